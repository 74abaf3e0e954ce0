package mirror

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/resources"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

// Ready (readiness of a leader) turns true only once a reconcile has
// succeeded: not while the config DB cannot be read at the start of a
// term, and as soon as it can.
func TestInSyncAfterFirstSuccessfulReconcile(t *testing.T) {
	srv := etcdtest.Start(t)
	_, store := srv.Store(t)
	nads := &fakeNADs{}
	nads.set(nad("a", "1", cfgA))
	srv.Stop()

	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	m := New(Config{Store: store, NADs: nads, Log: log, Timeout: 300 * time.Millisecond}, NewMetrics(reg), reg)
	if m.Ready(context.Background()) == nil {
		t.Fatal("in sync before running")
	}
	defer servicetest.RunLead(t, context.Background(), m.Run)()

	eventually.True(t, 20*time.Second, "a failed read of the config DB", func() bool {
		return testutil.ToFloat64(m.metrics.dbErrors.WithLabelValues("list")) >= 1
	})
	if m.Ready(context.Background()) == nil {
		t.Error("in sync although the config DB could not be read")
	}
	srv.Restart()
	eventually.True(t, 20*time.Second, "in sync after the config DB came back", func() bool { return m.Ready(context.Background()) == nil })
	got, err := store.ListResources(context.Background())
	if err != nil || len(got.Resources) != 2 || !resources.Equal(got.Resources[entryA.ID()], entryA) || !resources.Equal(got.Resources[snA.ID()], snA) {
		t.Errorf("entries once in sync: %v %v", got.Resources, err)
	}
}
