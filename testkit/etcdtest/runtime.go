package etcdtest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/health"
	"github.com/ska-telescope/sdp-helmdeploy/shared/service"
	"github.com/ska-telescope/sdp-helmdeploy/shared/settings"
)

// Runtime builds a service runtime in-process, as service.Main would, over
// store and env, with a fresh metrics registry and a process context that
// ends with the test. Logs are discarded unless the test runs verbose.
func Runtime(t testing.TB, name string, env settings.Env, store *configdb.Store) *service.Runtime {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	reg := prometheus.NewRegistry()
	rt := &service.Runtime{Name: name, Env: env, Log: log, Client: store.Client(), Store: store,
		Registry: reg, Health: health.New("127.0.0.1:0", reg, log)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rt.SetContext(ctx)
	return rt
}
