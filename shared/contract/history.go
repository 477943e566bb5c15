package contract

import "strings"

// Room history (JetStream). The room worker owns one stream per room base
// (HistoryStream), which stores what gateways publish on RoomLog(room) and
// republishes it on RoomOut(room) with the stream's headers, so every
// gateway keeps its plain room subscription and every member gets a room's
// messages in the stream's order, each with its sequence number.
const (
	// HeaderStore, on a reply to a room frame that also has HeaderBroadcast,
	// asks the sender's gateway to store the broadcast in the room's
	// history (publish it on RoomLog, waiting for the stream's
	// acknowledgement) instead of publishing it on RoomOut: the stream
	// republishes it there. The room worker sets it when history is on.
	HeaderStore = "Wsgw-Store"
	// HeaderMsgID carries a /ws/rooms publish's "msg_id" to the room
	// worker; absent when the client gave none.
	HeaderMsgID = "Wsgw-Msg-Id"

	// JetStream's own headers on what a stream stores and republishes.
	HeaderNatsMsgID   = "Nats-Msg-Id"        // deduplication id
	HeaderNatsSeq     = "Nats-Sequence"      // the message's stream sequence
	HeaderNatsLastSeq = "Nats-Last-Sequence" // the previous sequence on the same subject (0: none)
	HeaderNatsSubject = "Nats-Subject"       // the subject it was stored on

	// HistoryStreamName is the history stream of the default room base
	// (RoomSubject).
	HistoryStreamName = "WSGW_ROOMS"
)

// RoomLog is the subject a room's broadcasts are stored on when history is
// on.
func RoomLog(base, room string) string { return base + ".log." + room }

// RoomLogWildcard is every room's RoomLog: the history stream's subjects.
func RoomLogWildcard(base string) string { return base + ".log.*" }

// HistoryStream is the name of the history stream of rooms under base:
// WSGW_ROOMS for the default base, else WSGW_ROOMS_ and base upper-cased
// with every character a stream name may not hold replaced by '_'.
func HistoryStream(base string) string {
	if base == RoomSubject {
		return HistoryStreamName
	}
	var b strings.Builder
	b.WriteString(HistoryStreamName + "_")
	for _, r := range strings.ToUpper(base) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// RoomOfOut is the room of a RoomOut subject under base, or "" when
// subject is not one.
func RoomOfOut(base, subject string) string {
	prefix := base + ".out."
	if !strings.HasPrefix(subject, prefix) {
		return ""
	}
	return subject[len(prefix):]
}
