package roomsproto

import "strconv"

// AppendJoined appends the reply to a join in a room with history: seq is
// the room's last sequence number when the join took effect (0: the room
// has no message yet), recovered false when messages the client asked for
// (since) were no longer retained.
//
//	{"id":1,"ok":{"seq":1234,"recovered":true}}
func AppendJoined(dst []byte, id, seq uint64, recovered bool) []byte {
	dst = appendID(dst, id)
	dst = append(dst, `"ok":{"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"recovered":`...)
	dst = strconv.AppendBool(dst, recovered)
	return append(dst, "}}"...)
}

// AppendHistory appends the reply to a history command: the messages,
// oldest first, each as it is delivered live.
//
//	{"id":5,"ok":{"messages":[{"room":"lobby","data":"hi","seq":1299}]}}
func AppendHistory(dst []byte, id uint64, msgs []Message) []byte {
	dst = appendID(dst, id)
	dst = append(dst, `"ok":{"messages":[`...)
	for i := range msgs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendMessage(dst, &msgs[i])
	}
	return append(dst, "]}}"...)
}
