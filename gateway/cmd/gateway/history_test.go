package main

// Issue 14's guarantees with real processes: room history on JetStream
// keeps every message for members that resume with since, and for
// publishers that retry with msg_id, across a gateway drained or killed
// and a NATS node stopped.

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsgate/wsgate/gateway/roomsproto"
	"github.com/wsgate/wsgate/shared/contract"
	"github.com/wsgate/wsgate/shared/natstest"
)

// historyEnv is what every process of these tests gets: no rate limit (a
// publisher sends thousands of frames), a short drain window, and room
// history large enough that nothing a test sends is pushed out.
func historyEnv(natsURL string, more ...string) []string {
	return append([]string{"NATS_URL=" + natsURL, "GATEWAY_ADDR=127.0.0.1:0", "GATEWAY_DRAIN_WINDOW=300ms",
		"GATEWAY_RATE_PER_SECOND=0", "GATEWAY_WORKER_TIMEOUT=2s", "ROOM_HISTORY_SIZE=10000"}, more...)
}

// gatewayUp starts a gateway and returns it and its ws:// base URL.
func gatewayUp(t *testing.T, dir string, env []string) (*proc, string) {
	t.Helper()
	p := start(t, env, filepath.Join(dir, "gateway"))
	select {
	case addr := <-p.listen:
		return p, "ws://" + addr
	case <-time.After(20 * time.Second):
		t.Fatalf("gateway did not start:\n%s", p.log())
		return nil, ""
	}
}

// roomWorkers starts n room workers and waits until n answer PING: each
// creates the history stream before it takes a frame.
func roomWorkers(t *testing.T, dir string, env []string, nc *nats.Conn, n int) {
	t.Helper()
	var ps []*proc
	for range n {
		ps = append(ps, start(t, env, filepath.Join(dir, "worker"), "room"))
	}
	waitFor(t, 30*time.Second, "room workers up", func() bool { return instances(t, nc, "room") >= n }, func() string {
		var logs []string
		for _, p := range ps {
			logs = append(logs, p.log())
		}
		return strings.Join(logs, "\n")
	})
}

// waitFor polls cond until it holds, or fails the test after within,
// saying what it waited for (and more, if given).
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool, more ...func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			extra := ""
			for _, f := range more {
				extra += "\n" + f()
			}
			t.Fatalf("timed out after %v waiting for %s%s", within, what, extra)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}

// checkMembers waits until every member has want's count of messages,
// then checks that each got exactly want: every message once, in seq
// order, with no fault on the way.
func checkMembers(t *testing.T, want []got, ms ...*member) {
	t.Helper()
	waitFor(t, 20*time.Second, "every member to get every message", func() bool {
		for _, m := range ms {
			if m.count() < len(want) {
				return false
			}
		}
		return true
	}, func() string {
		var s []string
		for _, m := range ms {
			_, faults := m.received()
			s = append(s, fmt.Sprintf("%s: %d of %d, faults %v", m.name, m.count(), len(want), faults))
		}
		return strings.Join(s, "\n")
	})
	for _, m := range ms {
		msgs, faults := m.received()
		if len(faults) > 0 {
			t.Errorf("%s: %v", m.name, faults)
		}
		if !slices.Equal(msgs, want) {
			i := 0
			for i < min(len(msgs), len(want)) && msgs[i] == want[i] {
				i++
			}
			t.Errorf("%s got %d messages, want %d; first difference at %d", m.name, len(msgs), len(want), i)
		}
	}
}

// checkPublisher fails on a message acknowledged twice with different
// seqs, or two messages with one seq.
func checkPublisher(t *testing.T, p *publisher) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.faults {
		t.Error(f)
	}
	bySeq := map[uint64]int{}
	for i, s := range p.acks {
		if j, dup := bySeq[s]; dup {
			t.Errorf("messages %d and %d share seq %d", i, j, s)
		}
		bySeq[s] = i
	}
	if len(p.acks) != p.n {
		t.Errorf("%d of %d messages acknowledged", len(p.acks), p.n)
	}
}

// A gateway drained with SIGTERM, and one killed with SIGKILL, while a
// publisher on the other gateway sends 2,000 messages: the victim's
// members reconnect to the other gateway, resume with since and end with
// all 2,000 exactly once and in order.
func TestHistoryMembersResumeAfterGatewayLoss(t *testing.T) {
	dir, env, _ := historyStack(t)
	_, other := gatewayUp(t, dir, env)

	const n = 2000
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			victimProc, victim := gatewayUp(t, dir, env)
			room := "resume-" + strings.ReplaceAll(sig.String(), " ", "-")
			var ms []*member
			for i := range 3 {
				ms = append(ms, startMember(t, fmt.Sprint("victim member ", i), room, victim, other))
			}
			ctl := startMember(t, "member on the publisher's gateway", room, other)
			waitFor(t, 10*time.Second, "members joined", func() bool {
				for _, m := range append(ms, ctl) {
					if m.joinCount() < 1 {
						return false
					}
				}
				return true
			})

			// 800 messages/s: the fault comes about half a second in, and
			// the members resume while the rest is still being sent.
			pub := newPublisher(t, "p", room, n, 800, other)
			errc := make(chan error, 1)
			go func() { errc <- pub.run(time.Now().Add(40*time.Second), nil) }()
			waitFor(t, 20*time.Second, "members to receive 400 messages", func() bool { return ms[0].count() >= 400 })
			at, acked := ms[0].count(), pub.acked()
			if sig == syscall.SIGTERM {
				// The members are closed with 1001 within the drain
				// window while messages keep coming.
				if code := victimProc.stop(t, 15*time.Second); code != 0 {
					t.Errorf("drained gateway exit %d", code)
				}
			} else {
				_ = victimProc.cmd.Process.Kill()
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if acked >= n {
				t.Fatalf("the publisher was done before the gateway went: nothing was tested")
			}
			checkPublisher(t, pub)
			want := pub.byStream()
			checkMembers(t, want, append(ms, ctl)...)
			for _, m := range ms {
				m.mu.Lock()
				if len(m.resumed) == 0 || m.bases[m.at] != other {
					t.Errorf("%s did not resume on the other gateway: %v", m.name, m.resumed)
				}
				t.Logf("%s: resumed %v", m.name, m.resumed)
				m.mu.Unlock()
			}
			t.Logf("%s at %d messages received, %d acknowledged; publisher failures %d", sig, at, acked, pub.failed)
		})
	}
}

// A publisher whose gateway is killed while it sends retries what was not
// acknowledged, with the same msg_id, through the other gateway: every
// message is stored exactly once.
func TestHistoryPublisherRetryStoredOnce(t *testing.T) {
	dir, env, nc := historyStack(t)
	victimProc, victim := gatewayUp(t, dir, env)
	_, other := gatewayUp(t, dir, env)

	const n, room = 1000, "retry"
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, contract.HistoryStreamName)
	if err != nil {
		t.Fatal(err)
	}
	subject := contract.RoomLog(contract.RoomSubject, room)
	stored := func() uint64 {
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Subjects[subject]
	}

	reader := startMember(t, "reader", room, other)
	waitFor(t, 10*time.Second, "reader joined", func() bool { return reader.joinCount() == 1 })
	pub := newPublisher(t, "r", room, n, 0, victim, other)
	errc := make(chan error, 1)
	go func() { errc <- pub.run(time.Now().Add(30*time.Second), nil) }()
	waitFor(t, 20*time.Second, "300 acknowledgements", func() bool { return pub.acked() >= 300 })
	// The publisher stops reading replies, so what the gateway stores
	// next is not acknowledged to it; once the stream holds more than
	// the publisher knows of, the gateway is killed and the publisher
	// loses the replies it had not read.
	pub.pause.Store(true)
	var unacked uint64
	waitFor(t, 10*time.Second, "messages stored but not acknowledged", func() bool {
		s, a := stored(), uint64(pub.acked())
		unacked = s - min(s, a)
		// A few: the paused reader may still take a reply it was reading.
		return s >= a+3
	})
	_ = victimProc.cmd.Process.Kill()
	pub.lose <- struct{}{}
	pub.pause.Store(false)
	acked := pub.acked()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if acked >= n || pub.sessions < 2 {
		t.Fatalf("the publisher had %d acknowledged at the kill and used %d sockets: no retry was tested", acked, pub.sessions)
	}
	checkPublisher(t, pub)

	// The stream itself: exactly n messages on the room's subject, each
	// acknowledged seq holding its own message.
	if c := stored(); c != n {
		t.Errorf("the stream holds %d messages of the room, want %d", c, n)
	}
	pub.mu.Lock()
	victimID, deduped, byVictim := "", 0, 0
	for i := range n {
		m, err := st.GetMsg(ctx, pub.acks[i])
		if err != nil || m.Subject != subject || string(m.Data) != body(i) {
			t.Fatalf("stored message %d (seq %d): %v %s %q", i, pub.acks[i], err, m.Subject, m.Data)
		}
		gw := m.Header.Get(contract.HeaderGateway)
		if i == 0 {
			victimID = gw
		}
		if gw == victimID {
			byVictim++
			if pub.ackedIn[i] > 1 {
				deduped++
			}
		}
	}
	pub.mu.Unlock()
	// Stored once each (above): what the killed gateway stored but had not
	// acknowledged was retried, and the retry answered with its seq. (The
	// count seen before the kill may differ by a reply the paused reader
	// was already taking, or a store still on its way.)
	if deduped == 0 || byVictim-acked != deduped {
		t.Errorf("%d stored by the killed gateway, %d acknowledged before the kill, %d retries answered with the killed gateway's seq (%d seen unacknowledged at the kill)",
			byVictim, acked, deduped, unacked)
	}
	checkMembers(t, pub.byStream(), reader)
	t.Logf("%d of %d acknowledged at the kill, %d more stored; %d sockets; %d publishes answered with an error; %d retries answered with the killed gateway's store",
		acked, n, unacked, pub.sessions, pub.failed, deduped)
}

// On a three-node NATS cluster with ROOM_HISTORY_REPLICAS=3, stopping the
// node that leads the history stream while messages flow loses none for
// members, which resume where they are needed, and the publisher's retries
// store nothing twice.
func TestHistoryClusterLeaderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and runs a cluster")
	}
	dir := t.TempDir()
	build(t, dir, ".", "github.com/wsgate/wsgate/worker/cmd/worker")
	nodes := natstest.Cluster(t, 3)
	env := historyEnv(natstest.URLs(nodes), "ROOM_HISTORY_REPLICAS=3")
	nc, err := nats.Connect(natstest.URLs(nodes))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	roomWorkers(t, dir, env, nc, 2)

	// The stream's leader, now that a room worker made the stream.
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, contract.HistoryStreamName)
	if err != nil {
		t.Fatal(err)
	}
	info := st.CachedInfo()
	if info.Config.Replicas != 3 || info.Cluster == nil {
		t.Fatalf("stream replicas %d, cluster %+v", info.Config.Replicas, info.Cluster)
	}
	var leader *server.Server
	var others []*server.Server
	for _, s := range nodes {
		if s.Name() == info.Cluster.Leader {
			leader = s
		} else {
			others = append(others, s)
		}
	}
	if leader == nil {
		t.Fatalf("no node is the stream's leader %q", info.Cluster.Leader)
	}
	// Gateway A (the publisher's first) on the leader, so that the node
	// takes a gateway's NATS connection with it too (it learns the other
	// nodes from the cluster and reconnects there); B on the others.
	_, a := gatewayUp(t, dir, historyEnv(leader.ClientURL(), "ROOM_HISTORY_REPLICAS=3"))
	_, b := gatewayUp(t, dir, historyEnv(natstest.URLs(others), "ROOM_HISTORY_REPLICAS=3"))

	const n, room = 600, "cluster"
	ms := []*member{
		startMember(t, "member 0 on A", room, a, b), startMember(t, "member 1 on A", room, a, b),
		startMember(t, "member 2 on B", room, b, a), startMember(t, "member 3 on B", room, b, a),
	}
	waitFor(t, 10*time.Second, "members joined", func() bool {
		for _, m := range ms {
			if m.joinCount() < 1 {
				return false
			}
		}
		return true
	})
	pub := newPublisher(t, "c", room, n, 200, a, b)
	errc := make(chan error, 1)
	go func() { errc <- pub.run(time.Now().Add(45*time.Second), nil) }()
	waitFor(t, 20*time.Second, "150 acknowledgements", func() bool { return pub.acked() >= 150 })

	// Whose NATS connection goes with it (for the log): gateways and
	// workers reconnect to the other nodes.
	var onLeader []string
	if cz, err := leader.Connz(&server.ConnzOptions{}); err == nil {
		for _, c := range cz.Conns {
			onLeader = append(onLeader, c.Name)
		}
	}
	acked := pub.acked()
	leader.Shutdown()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	checkPublisher(t, pub)
	checkMembers(t, pub.byStream(), ms...)
	if acked >= n {
		t.Fatal("the publisher was done before the node stopped: nothing was tested")
	}
	resumes := 0
	for _, m := range ms {
		m.mu.Lock()
		resumes += len(m.resumed)
		m.mu.Unlock()
	}
	t.Logf("stopped leader %s (clients %q) at %d of %d acknowledged; %d publishes answered with an error, %d sockets; members resumed %d times",
		leader.Name(), onLeader, acked, n, pub.failed, pub.sessions, resumes)
}

// since older than what the stream keeps: the join says recovered false
// and delivers what is still there.
func TestHistorySinceTooOld(t *testing.T) {
	dir, env, _ := historyStack(t, "ROOM_HISTORY_SIZE=10")
	_, g := gatewayUp(t, dir, env)
	pub := newPublisher(t, "o", "old", 15, 0, g)
	pub.window = 1 // one at a time: stored in order
	if err := pub.run(time.Now().Add(20*time.Second), nil); err != nil {
		t.Fatal(err)
	}
	all := pub.byStream()
	for _, tc := range []struct {
		since     uint64
		recovered bool
		want      []got
	}{
		{all[2].seq, false, all[5:]}, // 3..4 are gone
		{all[5].seq, true, all[6:]},  // the oldest kept: nothing after it is gone
		{0, false, all[5:]},          // the room is full: some may be gone
	} {
		ws := dialOK(t, g+"/ws/rooms", nil)
		roundTripJoin := fmt.Sprintf(`{"id":1,"join":{"room":"old","since":%d}}`, tc.since)
		if err := ws.WriteMessage(websocket.TextMessage, []byte(roundTripJoin)); err != nil {
			t.Fatal(err)
		}
		var msgs []got
		var reply roomsproto.Received
		for reply.ID == nil {
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, frame, err := ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			lines, err := roomsproto.Decode(frame)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range lines {
				if r.ID != nil {
					reply = r
					continue
				}
				b, _, _ := r.Body()
				msgs = append(msgs, got{r.Seq, string(b)})
			}
		}
		wantOK := fmt.Sprintf(`{"seq":%d,"recovered":%v}`, all[len(all)-1].seq, tc.recovered)
		if string(reply.OK) != wantOK || !slices.Equal(msgs, tc.want) {
			t.Errorf("since %d: reply %s %+v, want %s; got %v, want %v", tc.since, reply.OK, reply.Error, wantOK, msgs, tc.want)
		}
		ws.Close()
	}
}

// historyStack builds the binaries and starts a NATS server and one room
// worker with history on (extra: more of its environment); it returns the
// binaries' directory, the environment for more processes, and a NATS
// connection for the test.
func historyStack(t *testing.T, extra ...string) (dir string, env []string, nc *nats.Conn) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds binaries")
	}
	dir = t.TempDir()
	build(t, dir, ".", "github.com/wsgate/wsgate/worker/cmd/worker")
	ns := natstest.Start(t)
	env = historyEnv(ns.ClientURL(), extra...)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	roomWorkers(t, dir, env, nc, 1)
	return dir, env, nc
}
