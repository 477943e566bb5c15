package events

import (
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsgate/wsgate/shared/contract"
)

// Headers of the presence bucket's writes: a key is deleted with a purge
// marker, as the NATS key-value client writes one (KV-Operation PURGE, a
// subject rollup), that expires after contract.PresenceMarkerTTL.
const (
	kvOperation = "KV-Operation"
	kvPurge     = "PURGE"
	rollup      = "Nats-Rollup"
	msgTTL      = "Nats-TTL"
)

// EventMsg is ev as its message on wsgw.events.<kind>, with its id as
// Nats-Msg-Id.
func EventMsg(ev *contract.Event) *nats.Msg {
	body := appendEvent(make([]byte, 0, 256), ev)
	return &nats.Msg{
		Subject: contract.EventSubject(ev.Event),
		Header:  nats.Header{nats.MsgIdHdr: {ev.ID}},
		Data:    body,
	}
}

// Put writes key of the presence bucket; id is the event that makes it
// (with a suffix, so it is no copy of the event for deduplication).
func Put(key, id string, v contract.PresenceEntry) *nats.Msg {
	body := appendEntry(make([]byte, 0, 96), &v)
	return &nats.Msg{
		Subject: "$KV." + contract.PresenceBucket + "." + key,
		Header:  nats.Header{nats.MsgIdHdr: {id + ".kv"}},
		Data:    body,
	}
}

// Delete deletes key of the presence bucket.
func Delete(key, id string) *nats.Msg {
	return &nats.Msg{
		Subject: "$KV." + contract.PresenceBucket + "." + key,
		Header: nats.Header{nats.MsgIdHdr: {id + ".kv"}, kvOperation: {kvPurge}, rollup: {"sub"},
			msgTTL: {contract.PresenceMarkerTTL.String()}},
	}
}

// Now is an event's time.
func Now() string { return time.Now().UTC().Format(time.RFC3339Nano) }
