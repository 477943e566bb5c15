package main

// /ws/rooms clients for the history guarantees, played as an application
// would: a member that resumes with since after losing its socket, and a
// publisher that retries what was not acknowledged with the same msg_id.
// Both switch gateways when theirs goes away.

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsgate/wsgate/gateway/roomsproto"
)

// got is one room message as a member received it.
type got struct {
	seq  uint64
	body string
}

// member stays in one room until stopped: on any loss of its socket it
// dials its gateways in turn, starting with the next one, and joins again
// with since = the last seq it received. It records every message and
// every fault it sees (a seq not above the last one, a refused join, a
// resume that was not recovered).
type member struct {
	t     *testing.T
	name  string
	room  string
	bases []string

	mu      sync.Mutex
	ws      *websocket.Conn
	at      int // index in bases of the gateway in use
	msgs    []got
	faults  []string
	joins   int // join replies ok, the first included
	resumed []string

	stopped chan struct{}
	done    chan struct{}
}

func startMember(t *testing.T, name, room string, bases ...string) *member {
	m := &member{t: t, name: name, room: room, bases: bases, stopped: make(chan struct{}), done: make(chan struct{})}
	go m.run()
	t.Cleanup(m.stop)
	return m
}

func (m *member) stop() {
	m.mu.Lock()
	select {
	case <-m.stopped:
	default:
		close(m.stopped)
	}
	if m.ws != nil {
		m.ws.Close()
	}
	m.mu.Unlock()
	<-m.done
}

func (m *member) fault(format string, args ...any) {
	m.mu.Lock()
	m.faults = append(m.faults, m.name+": "+fmt.Sprintf(format, args...))
	m.mu.Unlock()
}

func (m *member) last() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.msgs) == 0 {
		return 0
	}
	return m.msgs[len(m.msgs)-1].seq
}

func (m *member) count() int { m.mu.Lock(); defer m.mu.Unlock(); return len(m.msgs) }

func (m *member) joinCount() int { m.mu.Lock(); defer m.mu.Unlock(); return m.joins }

func (m *member) received() ([]got, []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]got(nil), m.msgs...), append([]string(nil), m.faults...)
}

func (m *member) run() {
	defer close(m.done)
	for {
		ws, at := dialAny(m.bases, m.at, "/ws/rooms", m.stopped)
		if ws == nil {
			select {
			case <-m.stopped:
			default:
				m.fault("no gateway accepted a connection")
			}
			return
		}
		m.mu.Lock()
		m.ws, m.at = ws, at
		select {
		case <-m.stopped:
			ws.Close()
			m.mu.Unlock()
			return
		default:
		}
		m.mu.Unlock()
		since := m.last()
		join := fmt.Sprintf(`{"id":1,"join":{"room":%q,"since":%d}}`, m.room, since)
		if ws.WriteMessage(websocket.TextMessage, []byte(join)) == nil {
			m.read(ws, since)
		}
		ws.Close()
		select {
		case <-m.stopped:
			return
		default:
		}
		// Whatever closed the socket, the gateway it was on may be going
		// away: try the next one first.
		m.at = (at + 1) % len(m.bases)
	}
}

// read takes the socket's frames until it fails.
func (m *member) read(ws *websocket.Conn, since uint64) {
	for {
		_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, frame, err := ws.ReadMessage()
		if err != nil {
			return
		}
		lines, err := roomsproto.Decode(frame)
		if err != nil {
			m.fault("undecodable frame %q: %v", frame, err)
			return
		}
		for _, r := range lines {
			switch {
			case r.ID != nil:
				m.reply(r, since)
			case r.Room == m.room:
				body, _, err := r.Body()
				m.mu.Lock()
				last := uint64(0)
				if len(m.msgs) > 0 {
					last = m.msgs[len(m.msgs)-1].seq
				}
				if err != nil || r.Seq <= last {
					m.faults = append(m.faults, fmt.Sprintf("%s: message seq %d after %d (%v)", m.name, r.Seq, last, err))
				}
				m.msgs = append(m.msgs, got{r.Seq, string(body)})
				m.mu.Unlock()
			default:
				m.fault("unexpected line %q", frame)
			}
		}
	}
}

func (m *member) reply(r roomsproto.Received, since uint64) {
	if *r.ID != 1 || r.Error != nil {
		m.fault("reply %d: error %+v", *r.ID, r.Error)
		return
	}
	var ok struct {
		Seq       *uint64 `json:"seq"`
		Recovered *bool   `json:"recovered"`
	}
	if err := json.Unmarshal(r.OK, &ok); err != nil || ok.Seq == nil || ok.Recovered == nil {
		m.fault("join reply %s without seq and recovered", r.OK)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !*ok.Recovered {
		m.faults = append(m.faults, fmt.Sprintf("%s: resume since %d not recovered", m.name, since))
	}
	m.joins++
	if m.joins > 1 {
		m.resumed = append(m.resumed, fmt.Sprintf("since %d on %s, seq %d", since, m.bases[m.at], *ok.Seq))
	}
}

// dialAny dials path on bases[from], then the others in turn, until one
// accepts, for at most 20 s; nil when none did or stop closed.
func dialAny(bases []string, from int, path string, stop <-chan struct{}) (*websocket.Conn, int) {
	d := websocket.Dialer{HandshakeTimeout: 3 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for k := range bases {
			i := (from + k) % len(bases)
			if ws, _, err := d.Dial(bases[i]+path, nil); err == nil {
				return ws, i
			}
		}
		select {
		case <-stop:
			return nil, 0
		case <-time.After(20 * time.Millisecond): // retry pacing while no gateway answers
		}
	}
	return nil, 0
}

// publisher sends messages 0..n-1 to a room ("msg <i>", msg_id "<tag>-<i>"),
// pipelined, until every one is acknowledged with a seq. A message whose
// publish failed (503) or whose socket closed before its reply is sent
// again, with the same msg_id, on the same socket or through the next
// gateway. It records every acknowledgement: the same message acknowledged
// with two seqs was stored twice.
type publisher struct {
	t      *testing.T
	tag    string
	room   string
	bases  []string
	n      int
	rate   float64 // messages/s offered; 0: as fast as the window allows
	window int
	// pause stops taking replies (they stay unread); a value on lose
	// abandons the socket in use with every reply it did not take, as a
	// client whose connection broke loses the replies on their way. (When
	// that socket failed first, the next one takes the value: one more
	// retry, through a live gateway.)
	pause atomic.Bool
	lose  chan struct{}

	mu       sync.Mutex
	acks     map[int]uint64
	ackedIn  map[int]int // message -> the socket (1, 2, ...) that got its acknowledgement
	faults   []string
	failed   int // publishes answered with an error (sent again)
	sessions int
}

func newPublisher(t *testing.T, tag, room string, n int, rate float64, bases ...string) *publisher {
	return &publisher{t: t, tag: tag, room: room, bases: bases, n: n, rate: rate, window: 32, lose: make(chan struct{}, 1), acks: map[int]uint64{}, ackedIn: map[int]int{}}
}

func (p *publisher) acked() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.acks) }

func (p *publisher) ack(i int, seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.acks[i]; ok && s != seq {
		p.faults = append(p.faults, fmt.Sprintf("message %d acknowledged with seq %d and %d: stored twice", i, s, seq))
	}
	p.acks[i] = seq
	p.ackedIn[i] = p.sessions
}

// todo is what is not acknowledged yet, in order.
func (p *publisher) todo() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for i := range p.n {
		if _, ok := p.acks[i]; !ok {
			out = append(out, i)
		}
	}
	return out
}

func body(i int) string { return "msg " + strconv.Itoa(i) }

// run publishes until every message is acknowledged or the deadline
// passes; it returns an error in the latter case.
func (p *publisher) run(deadline time.Time, stop <-chan struct{}) error {
	at := 0
	for len(p.todo()) > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d of %d acknowledged by the deadline", p.tag, p.acked(), p.n)
		}
		ws, i := dialAny(p.bases, at, "/ws/rooms", stop)
		if ws == nil {
			return fmt.Errorf("%s: no gateway accepted a connection", p.tag)
		}
		p.mu.Lock()
		p.sessions++
		p.mu.Unlock()
		if !p.session(ws, deadline) {
			at = (i + 1) % len(p.bases) // lost the socket: its gateway may be gone
		}
	}
	return nil
}

// session joins the room on ws and publishes what is left; false when the
// socket failed.
func (p *publisher) session(ws *websocket.Conn, deadline time.Time) bool {
	replies := make(chan roomsproto.Received, 1024)
	go func() {
		defer close(replies)
		for {
			_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, frame, err := ws.ReadMessage()
			if err != nil {
				return
			}
			lines, _ := roomsproto.Decode(frame)
			for _, r := range lines {
				if r.ID != nil {
					replies <- r
				}
			}
		}
	}()
	defer func() {
		ws.Close()
		for range replies { // until the reader is gone
		}
	}()
	if ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"id":1,"join":{"room":%q}}`, p.room))) != nil {
		return false
	}
	if r, ok := <-replies; !ok || *r.ID != 1 || r.Error != nil {
		return false
	}
	todo := p.todo()
	out := map[uint64]int{} // command id -> message
	next := uint64(2)
	start := time.Now()
	sent := 0
	for len(todo) > 0 || len(out) > 0 {
		if time.Now().After(deadline) {
			return true
		}
		var due <-chan time.Time
		if len(todo) > 0 && len(out) < p.window {
			wait := time.Duration(0)
			if p.rate > 0 {
				wait = time.Until(start.Add(time.Duration(float64(sent) / p.rate * float64(time.Second))))
			}
			if wait <= 0 {
				i := todo[0]
				cmd := fmt.Sprintf(`{"id":%d,"publish":{"room":%q,"data":%q,"msg_id":"%s-%d"}}`, next, p.room, body(i), p.tag, i)
				if ws.WriteMessage(websocket.TextMessage, []byte(cmd)) != nil {
					return false
				}
				out[next], todo, next, sent = i, todo[1:], next+1, sent+1
				continue
			}
			due = time.After(wait)
		}
		take := replies
		if p.pause.Load() {
			take = nil
			if due == nil {
				due = time.After(5 * time.Millisecond) // look at pause again
			}
		}
		select {
		case <-p.lose:
			return false
		case r, ok := <-take:
			if !ok {
				return false
			}
			i, mine := out[*r.ID]
			if !mine {
				continue
			}
			delete(out, *r.ID)
			var res struct {
				Broadcast bool   `json:"broadcast"`
				Seq       uint64 `json:"seq"`
			}
			if r.Error == nil && json.Unmarshal(r.OK, &res) == nil && res.Broadcast && res.Seq > 0 {
				p.ack(i, res.Seq)
				continue
			}
			p.mu.Lock()
			p.failed++
			p.mu.Unlock()
			todo = append(todo, i) // not stored, or not known to be: again, same msg_id
		case <-due:
		}
	}
	return true
}

// byStream is every acknowledged message in seq order, as members must
// receive them.
func (p *publisher) byStream() []got {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]got, 0, len(p.acks))
	for i, s := range p.acks {
		out = append(out, got{s, body(i)})
	}
	slices.SortFunc(out, func(a, b got) int { return cmp.Compare(a.seq, b.seq) })
	return out
}
