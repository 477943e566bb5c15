package contract

import (
	"strconv"
	"strings"
	"time"
)

// Lifecycle events and presence (CONTRACT.md, "Presence and lifecycle
// events"). Gateways publish every connection's lifecycle to the JetStream
// stream EventsStream and keep its live memberships in the key-value bucket
// PresenceBucket; presence workers own both, answer presence queries and
// tell gateways when a user enters or leaves a room.
const (
	// EventsStream holds the lifecycle events, on EventsSubjects.
	EventsStream = "WSGW_EVENTS"
	// EventsPrefix is the base of the event subjects: wsgw.events.<kind>.
	EventsPrefix = "wsgw.events"
	// EventsSubjects is the stream's subject filter.
	EventsSubjects = EventsPrefix + ".*"

	// PresenceBucket is the key-value bucket of live connections,
	// memberships and gateway heartbeats (keys: PresenceConnKey,
	// PresenceMemberKey, PresenceGatewayKey).
	PresenceBucket = "wsgw_presence"
	// PresenceQuerySubject is the presence service's request subject:
	// body {"room":"lobby"}.
	PresenceQuerySubject = "wsgw.presence.query"
	// PresenceEventPrefix is where presence workers announce a user's
	// first join and last leave of a room: wsgw.presence.event.<room>.
	PresenceEventPrefix = "wsgw.presence.event"
	// PresenceEventWildcard matches every room's presence events.
	PresenceEventWildcard = PresenceEventPrefix + ".*"

	// PresenceMarkerTTL is how long the bucket keeps the marker of a
	// deleted key (a purge with Nats-TTL): long enough for every presence
	// worker to see it, short enough that a churn of connections leaves
	// nothing behind.
	PresenceMarkerTTL = 30 * time.Minute

	// DefaultPresenceTTL is PRESENCE_TTL's default.
	DefaultPresenceTTL = 15 * time.Second
)

// Event kinds: the last token of an event's subject and its "event" field.
const (
	EventConnect    = "connect"
	EventDisconnect = "disconnect"
	EventJoin       = "join"
	EventLeave      = "leave"
)

// Disconnect reasons, the "reason" of a disconnect event.
const (
	ReasonClient       = "client"        // the client closed, or its connection dropped or went silent
	ReasonServer       = "server"        // the gateway closed it (a worker's Wsgw-Close, a protocol or policy violation, no worker, ...)
	ReasonSlowConsumer = "slow_consumer" // it read too slowly (1013 slow consumer)
	ReasonExpired      = "expired"       // its credential expired (4001)
	ReasonRevoked      = "revoked"       // revoked on wsgw.revoke (4003)
	ReasonDrain        = "drain"         // the gateway shut down (1001)
	ReasonGatewayLost  = "gateway_lost"  // its gateway died, or was cut off for longer than its PRESENCE_TTL allows
)

// EventSubject is the subject of an event of kind.
func EventSubject(kind string) string { return EventsPrefix + "." + kind }

// PresenceEventSubject is where presence events of room go.
func PresenceEventSubject(room string) string { return PresenceEventPrefix + "." + room }

// Event ids are derived, not random, so that whoever emits an event (the
// gateway, or a presence worker for a gateway it found dead) gives it the
// same id, and JetStream (Nats-Msg-Id) and consumers drop the copy.
// Gateway ids are new at each start and connection ids unique within one,
// so every id is unique. n numbers a connection's joins from 1.

// ConnectID is the event id of a connection's connect.
func ConnectID(gateway, conn string) string { return gateway + "." + conn + ".c" }

// DisconnectID is the event id of a connection's disconnect.
func DisconnectID(gateway, conn string) string { return gateway + "." + conn + ".d" }

// JoinID is the event id of a connection's n-th join.
func JoinID(gateway, conn string, n uint64) string {
	return gateway + "." + conn + ".j" + strconv.FormatUint(n, 10)
}

// LeaveID is the event id of the leave that ends join n.
func LeaveID(gateway, conn string, n uint64) string {
	return gateway + "." + conn + ".l" + strconv.FormatUint(n, 10)
}

// Presence bucket keys. Gateway ids are [0-9A-Za-z], connection ids base-36
// digits and room names [A-Za-z0-9_-]: every part is one literal token.

// PresenceGatewayKey is a gateway's heartbeat.
func PresenceGatewayKey(gateway string) string { return "g." + gateway }

// PresenceConnKey is a live connection.
func PresenceConnKey(gateway, conn string) string { return "c." + gateway + "." + conn }

// PresenceMemberKey is a live membership of a connection in a room.
func PresenceMemberKey(room, gateway, conn string) string {
	return "m." + room + "." + gateway + "." + conn
}

// PresenceKey is a parsed bucket key.
type PresenceKey struct {
	Kind          byte // 'g', 'c' or 'm'
	Gateway, Conn string
	Room          string // 'm' only
}

// ParsePresenceKey reads a bucket key; false for anything else.
func ParsePresenceKey(key string) (PresenceKey, bool) {
	parts := strings.Split(key, ".")
	var k PresenceKey
	switch {
	case len(parts) == 2 && parts[0] == "g":
		k = PresenceKey{Kind: 'g', Gateway: parts[1]}
	case len(parts) == 3 && parts[0] == "c":
		k = PresenceKey{Kind: 'c', Gateway: parts[1], Conn: parts[2]}
	case len(parts) == 4 && parts[0] == "m" && ValidRoom(parts[1]):
		k = PresenceKey{Kind: 'm', Room: parts[1], Gateway: parts[2], Conn: parts[3]}
	default:
		return k, false
	}
	if !token(k.Gateway) || (k.Kind != 'g' && !token(k.Conn)) {
		return k, false
	}
	return k, true
}

// token is a gateway or connection id: 1-64 of [0-9A-Za-z].
func token(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// Event is one lifecycle event, the JSON body of a message on
// wsgw.events.<kind>.
type Event struct {
	ID         string `json:"event_id"` // also the message's Nats-Msg-Id
	Event      string `json:"event"`    // connect, disconnect, join, leave
	Time       string `json:"time"`     // RFC 3339, UTC, nanoseconds
	Gateway    string `json:"gateway"`
	Conn       string `json:"conn"`
	User       string `json:"user,omitempty"`
	Route      string `json:"route"`
	Room       string `json:"room,omitempty"`        // join and leave
	RemoteAddr string `json:"remote_addr,omitempty"` // the client's address
	Code       int    `json:"code,omitempty"`        // disconnect: the close code (0: none went either way)
	Reason     string `json:"reason,omitempty"`      // disconnect
}

// PresenceEntry is the value of a connection or membership key: what a
// presence worker needs to emit its disconnect or leave itself.
type PresenceEntry struct {
	User       string `json:"user,omitempty"`
	Route      string `json:"route"`
	RemoteAddr string `json:"remote_addr,omitempty"`
	Join       uint64 `json:"join,omitempty"` // membership: the join's number (JoinID)
}

// PresenceBeat is the value of a gateway's heartbeat key.
type PresenceBeat struct {
	TTLMillis int64  `json:"ttl_ms"` // the gateway's PRESENCE_TTL
	Beat      uint64 `json:"beat"`   // counts the gateway's heartbeats
}

// PresenceQuery is the body of a request on PresenceQuerySubject.
type PresenceQuery struct {
	Room string `json:"room"`
}

// PresenceUser is one user of a presence answer.
type PresenceUser struct {
	User        string `json:"user"`
	Connections int    `json:"connections"`
}

// PresenceAnswer is a presence worker's answer to a query.
type PresenceAnswer struct {
	Users     []PresenceUser `json:"users"`
	Anonymous int            `json:"anonymous"`
}

// PresenceNotice is the body of a presence event on
// PresenceEventSubject(room): a user's first connection entered the room
// (join) or its last left (leave). Rev orders notices of one room: a
// gateway drops one not newer than the last it passed on.
type PresenceNotice struct {
	Event string `json:"event"` // join or leave
	User  string `json:"user"`
	Rev   uint64 `json:"rev"`
}
