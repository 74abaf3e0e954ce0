package mirror

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

// A reconcile that failed while the config DB was away runs again as soon
// as it answers, not when its backoff ends: the backoff here is a minute.
func TestConfigDBBackRetriesAtOnce(t *testing.T) {
	srv := etcdtest.Start(t)
	_, store := srv.Store(t)
	f := &fixture{t: t, store: store, nads: &fakeNADs{}, reg: prometheus.NewRegistry()}
	f.nads.set(nad("a", "1", cfgA))
	srv.Stop()

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := New(Config{Store: store, NADs: f.nads, Log: log, Timeout: 200 * time.Millisecond}, NewMetrics(f.reg), f.reg)
	m.queue = controller.NewQueue("slow", prometheus.NewRegistry(), controller.QueueOptions{BaseDelay: time.Minute, MaxDelay: time.Minute})
	m.recovery = controller.NewConfigDBRecovery(m.queue, m.cfg.Log, m.cfg.Store)
	m.recovery.Every = 50 * time.Millisecond
	// Through the store's own probe, noting that it has seen etcd away: a
	// dependency counts as back only after its probe saw it gone.
	var sawAway atomic.Bool
	m.recovery.Probe(controller.ConfigDB, func(ctx context.Context) error {
		err := store.Ping(ctx)
		if err != nil {
			sawAway.Store(true)
		}
		return err
	})
	servicetest.RunLead(t, context.Background(), m.Run)

	eventually.Eventually(t, 10*time.Second, func() error {
		if m.recovery.Waiting(controller.ConfigDB) != 1 || !sawAway.Load() {
			return errors.New("the reconcile has not failed on the config DB, or its probe not seen it away, yet")
		}
		return nil
	})
	srv.Restart()
	f.waitEntries("after the config DB came back", entryA, snA)
}
