package shared

import (
	"bytes"
	"strings"
	"testing"

	"github.com/wsgate/wsgate/shared/contract"
)

// The document names every subject and header of the contract package, as
// contract.go spells them (the schemas themselves are checked by
// .ci/asyncapi with the official parser).
func TestAsyncAPINamesTheContract(t *testing.T) {
	if !bytes.HasPrefix(AsyncAPI, []byte("asyncapi: 3.0.0\n")) {
		t.Fatalf("not an AsyncAPI 3.0 document: %.40q", AsyncAPI)
	}
	doc := string(AsyncAPI)
	for _, s := range []string{
		"address: " + contract.EchoSubject,
		"address: " + contract.AuthSubject,
		"address: " + contract.RevokeSubject,
		"address: '" + contract.RoomIn(contract.RoomSubject, "{room}") + "'",
		"address: '" + contract.RoomOut(contract.RoomSubject, "{room}") + "'",
		"address: '" + contract.GatewayPrefix + ".{gateway}.{conn}.{seq}'",
		"address: '" + contract.GatewayPrefix + ".{gateway}.{conn}'",
		"address: '" + contract.UserPrefix + ".{token}'",
		"address: $KV." + contract.PolicyBucket + "." + contract.PolicyProtectedKey,
		"address: /ws/rooms",
		"address: '" + contract.EventsPrefix + ".{kind}'",
		"address: " + contract.PresenceQuerySubject,
		"address: '" + contract.PresenceEventPrefix + ".{room}'",
		"address: '$KV." + contract.PresenceBucket + ".{key}'",
		contract.EventsStream,
		"enum: [" + strings.Join([]string{contract.ReasonClient, contract.ReasonServer, contract.ReasonSlowConsumer,
			contract.ReasonExpired, contract.ReasonRevoked, contract.ReasonDrain, contract.ReasonGatewayLost}, ", ") + "]",
		strings.TrimPrefix(contract.UserSubject("alice"), contract.UserPrefix+"."),
		contract.HeaderConn + ":", contract.HeaderGateway + ":", contract.HeaderUser + ":",
		contract.HeaderRoom + ":", contract.HeaderFrame + ":", contract.HeaderClose + ":",
		contract.HeaderBroadcast + ":",
		"enum: [" + contract.FrameText + ", " + contract.FrameBinary + "]",
		"version: '" + contract.Version + "'",
	} {
		if !strings.Contains(doc, s) {
			t.Errorf("asyncapi.yaml does not contain %q", s)
		}
	}
}
