package presence

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/wsgate/wsgate/shared/contract"
)

// Worker is one presence worker instance.
type Worker struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	cfg Config
	log *slog.Logger
	svc micro.Service

	mu    sync.RWMutex
	state *State
	live  bool // the watch delivered every value that existed at its start

	rewatch chan struct{} // the view is read again from the bucket (after a reconnection)

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start creates (or updates) the stream and the bucket, waiting for
// JetStream until ctx ends, then follows the bucket and registers the
// micro service "presence". Stop ends it.
func Start(ctx context.Context, nc *nats.Conn, cfg Config, version string, log *slog.Logger) (*Worker, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	w := &Worker{nc: nc, js: js, cfg: cfg, log: log, state: NewState(cfg.TTL), rewatch: make(chan struct{}, 1)}
	var kv jetstream.KeyValue
	for {
		if kv, err = w.setup(ctx); err == nil {
			break
		}
		log.Warn("presence: cannot create the events stream and presence bucket yet", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	rctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.wg.Add(2)
	go w.follow(rctx, kv)
	go w.sweep(rctx, kv)
	w.svc, err = micro.AddService(nc, micro.Config{
		Name:        "presence",
		Version:     version,
		Description: "Who is in each room, across every gateway; presence events; lifecycle events of lost gateways",
		QueueGroup:  "presence",
		Metadata:    contract.Metadata("stream", contract.EventsStream, "bucket", contract.PresenceBucket),
	})
	if err == nil {
		err = w.svc.AddEndpoint("query", micro.HandlerFunc(w.query), micro.WithEndpointSubject(contract.PresenceQuerySubject))
	}
	if err != nil {
		w.Stop()
		return nil, err
	}
	return w, nil
}

// Service is the micro service, for the admin listener.
func (w *Worker) Service() micro.Service { return w.svc }

// Stop stops answering and following.
func (w *Worker) Stop() {
	if w.svc != nil {
		_ = w.svc.Stop()
	}
	w.cancel()
	w.wg.Wait()
}

func (w *Worker) setup(ctx context.Context) (jetstream.KeyValue, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := w.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        contract.EventsStream,
		Description: "wsgate lifecycle events: connect, disconnect, join, leave",
		Subjects:    []string{contract.EventsSubjects},
		MaxAge:      w.cfg.EventsMaxAge,
		MaxBytes:    w.cfg.EventsMaxBytes,
		Replicas:    w.cfg.EventsReplicas,
		Duplicates:  w.cfg.EventsDuplicates,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, err
	}
	return w.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      contract.PresenceBucket,
		Description: "wsgate presence: live connections, memberships and gateway heartbeats",
		History:     1,
		Replicas:    w.cfg.PresenceReplicas,
		// Deleted keys leave a marker that expires (see deleteMsg).
		LimitMarkerTTL: contract.PresenceMarkerTTL,
		Storage:        jetstream.FileStorage,
	})
}

// follow applies the bucket's changes in its order. Notices go out only
// for changes after the values that existed at the start of a watch (those
// are the view, not news). After a reconnection to NATS the view is read
// again from the bucket: a watch's consumer may not survive a server
// restart, and the bucket is the truth.
func (w *Worker) follow(ctx context.Context, kv jetstream.KeyValue) {
	defer w.wg.Done()
	for {
		watch, err := kv.WatchAll(ctx)
		if err != nil {
			w.log.Warn("presence: cannot watch the bucket yet", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				continue
			}
		}
		w.mu.Lock()
		w.state, w.live = NewState(w.cfg.TTL), false
		w.mu.Unlock()
		again := w.apply(ctx, watch)
		_ = watch.Stop()
		if !again {
			return
		}
	}
}

// apply runs one watch until ctx ends (false) or the view must be read
// again (true).
func (w *Worker) apply(ctx context.Context, watch jetstream.KeyWatcher) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-w.rewatch:
			return true
		case e, ok := <-watch.Updates():
			if !ok {
				return true
			}
			if e == nil {
				w.mu.Lock()
				w.live = true
				w.state.Reset(time.Now())
				w.mu.Unlock()
				w.log.Info("presence: view loaded")
				continue
			}
			del := e.Operation() != jetstream.KeyValuePut
			w.mu.Lock()
			notices := w.state.Apply(e.Key(), del, e.Value(), e.Revision(), time.Now())
			live := w.live
			w.mu.Unlock()
			if live {
				for _, n := range notices {
					body, _ := json.Marshal(contract.PresenceNotice{Event: n.Event, User: n.User, Rev: n.Rev})
					_ = w.nc.Publish(contract.PresenceEventSubject(n.Room), body)
				}
			}
		}
	}
}

// query answers who is in a room.
func (w *Worker) query(req micro.Request) {
	var q contract.PresenceQuery
	if json.Unmarshal(req.Data(), &q) != nil || !contract.ValidRoom(q.Room) {
		_ = req.Error("400", "bad query", nil)
		return
	}
	w.mu.RLock()
	if !w.live {
		w.mu.RUnlock()
		_ = req.Error("503", "presence view loading", nil)
		return
	}
	a := w.state.Query(q.Room)
	w.mu.RUnlock()
	body, _ := json.Marshal(a)
	_ = req.Respond(body)
}

// sweep declares lost the gateways that stopped beating. It checks every
// TTL/20, and counts silence only while this worker hears NATS: after its
// own reconnection every gateway gets its full grace again.
func (w *Worker) sweep(ctx context.Context, kv jetstream.KeyValue) {
	defer w.wg.Done()
	t := time.NewTicker(max(w.cfg.TTL/20, 20*time.Millisecond))
	defer t.Stop()
	reconnects := w.nc.Stats().Reconnects
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !w.nc.IsConnected() {
			continue
		}
		now := time.Now()
		w.mu.Lock()
		if r := w.nc.Stats().Reconnects; r != reconnects {
			reconnects = r
			w.state.Reset(now)
			select {
			case w.rewatch <- struct{}{}:
			default:
			}
		}
		var due []string
		if w.live {
			due = w.state.Due(now)
		}
		w.mu.Unlock()
		for _, id := range due {
			w.declare(ctx, kv, id)
		}
	}
}

// declare emits a lost gateway's leaves and disconnects (reason
// gateway_lost), with the ids the gateway would have given them, and
// deletes its keys. While its heartbeat key exists it is first deleted
// conditionally: of several instances, one wins, and a gateway that beat
// meanwhile is not declared; a live gateway whose key is gone learns so
// at its next beat and closes what it still holds.
func (w *Worker) declare(ctx context.Context, kv jetstream.KeyValue, id string) {
	w.mu.Lock()
	alive, rev, members, conns := w.state.Lost(id, time.Now())
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if alive {
		if err := kv.Purge(ctx, contract.PresenceGatewayKey(id), jetstream.LastRevision(rev), jetstream.PurgeTTL(contract.PresenceMarkerTTL)); err != nil {
			return // another instance did, or it beat again
		}
	}
	if len(members)+len(conns) == 0 {
		return // only its heartbeat key, gone now
	}
	w.log.Warn("presence: gateway lost; emitting its leaves and disconnects", "gateway", id,
		"memberships", len(members), "connections", len(conns))
	now := time.Now().UTC().Format(time.RFC3339Nano)
	var msgs []*nats.Msg
	for _, m := range members {
		ev := contract.Event{ID: contract.LeaveID(id, m.Conn, m.Join), Event: contract.EventLeave, Time: now,
			Gateway: id, Conn: m.Conn, User: m.User, Route: m.Route, Room: m.Room, RemoteAddr: m.RemoteAddr}
		msgs = append(msgs, eventMsg(&ev), deleteMsg(contract.PresenceMemberKey(m.Room, id, m.Conn), ev.ID))
	}
	for _, c := range conns {
		ev := contract.Event{ID: contract.DisconnectID(id, c.Conn), Event: contract.EventDisconnect, Time: now,
			Gateway: id, Conn: c.Conn, User: c.User, Route: c.Route, RemoteAddr: c.RemoteAddr,
			Code: 1006, Reason: contract.ReasonGatewayLost}
		msgs = append(msgs, eventMsg(&ev), deleteMsg(contract.PresenceConnKey(id, c.Conn), ev.ID))
	}
	if err := w.publish(ctx, msgs); err != nil {
		// The gateway stays due: the next sweep after half a TTL tries again.
		w.log.Warn("presence: lost gateway's events not all acknowledged", "gateway", id, "err", err)
	}
}

// publish sends msgs with JetStream's asynchronous publish and waits for
// every acknowledgement.
func (w *Worker) publish(ctx context.Context, msgs []*nats.Msg) error {
	var futures []jetstream.PubAckFuture
	for _, m := range msgs {
		f, err := w.js.PublishMsgAsync(m)
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	var errs []error
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs = append(errs, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

func eventMsg(ev *contract.Event) *nats.Msg {
	body, _ := json.Marshal(ev)
	return &nats.Msg{Subject: contract.EventSubject(ev.Event), Header: nats.Header{nats.MsgIdHdr: {ev.ID}}, Data: body}
}

func deleteMsg(key, id string) *nats.Msg {
	return &nats.Msg{
		Subject: "$KV." + contract.PresenceBucket + "." + key,
		Header: nats.Header{nats.MsgIdHdr: {id + ".kv"}, "KV-Operation": {"PURGE"}, "Nats-Rollup": {"sub"},
			"Nats-TTL": {contract.PresenceMarkerTTL.String()}},
	}
}
