package servicetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdserver"
)

// CheckLifecycle is the test every service binary passes: against a real
// etcd it answers /healthz, /readyz and /metrics, logs JSON when asked and
// SKA lines by default (a bad SDP_LOG_FORMAT reported), and exits 0 on
// SIGTERM; with bad settings it exits 1 saying why; with etcd away it stays
// up, not ready, and becomes ready when etcd comes back.
func CheckLifecycle(t *testing.T, dir, service string, extraEnv ...string) {
	CheckBinary(t, Build(t, dir), service, extraEnv...)
}

// CheckBinary is CheckLifecycle for a binary already built.
func CheckBinary(t *testing.T, bin, service string, extraEnv ...string) {
	srv := etcdserver.Start(t)
	env := append([]string{
		"SDP_CONFIG_HOST=127.0.0.1",
		fmt.Sprintf("SDP_CONFIG_PORT=%d", srv.Port),
		"SDP_CONFIG_PREFIX=/lifecycle",
	}, extraEnv...)

	t.Run("serves and stops on SIGTERM", func(t *testing.T) {
		p := Start(t, bin, env)
		p.WaitFor(t, "/healthz", 200, "ok", 20*time.Second)
		p.WaitFor(t, "/readyz", 200, "ok", 20*time.Second)
		p.WaitMetric(t, 20*time.Second, 1, "sdp_helmdeploy_leader")
		m, err := p.Metrics()
		if err != nil {
			t.Fatal(err)
		}
		if m.Sum("sdp_helmdeploy_build_info", "service", service) == 0 || !m.Has("go_goroutines") {
			t.Errorf("metrics lack build info or Go metrics:\n%s", truncate(m.Text("sdp_helmdeploy_"), 2000))
		}
		if code := p.Stop(t, 15*time.Second); code != 0 {
			t.Errorf("exit code %d after SIGTERM", code)
		}
		p.CheckJSONLogs(t, service)
	})

	t.Run("logs SKA lines by default", func(t *testing.T) {
		p := Start(t, bin, append(append([]string{}, env...), UnsetLogFormat))
		p.WaitFor(t, "/readyz", 200, "ok", 20*time.Second)
		if code := p.Stop(t, 15*time.Second); code != 0 {
			t.Errorf("exit code %d after SIGTERM", code)
		}
		p.CheckSKALogs(t, service)
	})

	t.Run("bad log format: reported, SKA lines, runs", func(t *testing.T) {
		p := Start(t, bin, append(append([]string{}, env...), "SDP_LOG_FORMAT=xml"))
		p.WaitFor(t, "/readyz", 200, "ok", 20*time.Second)
		if code := p.Stop(t, 15*time.Second); code != 0 {
			t.Errorf("exit code %d after SIGTERM", code)
		}
		p.CheckSKALogs(t, service)
		if !strings.Contains(p.Logs(), `|WARNING|`) || !strings.Contains(p.Logs(), `logging setting ignored error="SDP_LOG_FORMAT=\"xml\": not a log format (ska, json)`) {
			t.Errorf("bad SDP_LOG_FORMAT not reported:\n%s", p.Logs())
		}
	})

	t.Run("bad settings exit 1 with the reason", func(t *testing.T) {
		p := Start(t, bin, append(append([]string{}, env...), "SDP_CONFIG_PORT=notaport"))
		if code := p.Wait(t, 15*time.Second); code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		if !strings.Contains(p.Logs(), "SDP_CONFIG_PORT") {
			t.Errorf("logs do not name the bad setting:\n%s", p.Logs())
		}
	})

	t.Run("etcd away: up, not ready, then ready", func(t *testing.T) {
		srv.Stop()
		p := Start(t, bin, env)
		p.WaitFor(t, "/healthz", 200, "ok", 20*time.Second)
		p.WaitFor(t, "/readyz", 503, "config-db", 20*time.Second)
		srv.Restart()
		p.WaitFor(t, "/readyz", 200, "ok", 30*time.Second)
		p.WaitMetric(t, 30*time.Second, 1, "sdp_helmdeploy_leader")
		if code := p.Stop(t, 15*time.Second); code != 0 {
			t.Errorf("exit code %d after SIGTERM", code)
		}
	})

	// With a user set, the etcd client logs in as it is built; an absent
	// etcd must not make the start fail for that.
	t.Run("etcd with credentials away: up, not ready, then ready", func(t *testing.T) {
		authSrv := etcdserver.Start(t)
		authSrv.EnableAuth(t, "root", "s3cret")
		authSrv.Stop()
		authEnv := append(append([]string{}, env...), fmt.Sprintf("SDP_CONFIG_PORT=%d", authSrv.Port),
			"SDP_CONFIG_USERNAME=root", "SDP_CONFIG_PASSWORD=s3cret")
		p := Start(t, bin, authEnv)
		p.WaitFor(t, "/healthz", 200, "ok", 20*time.Second)
		p.WaitFor(t, "/readyz", 503, "config DB not reachable", 30*time.Second)
		authSrv.Restart()
		p.WaitFor(t, "/readyz", 200, "ok", 60*time.Second)
		p.WaitFor(t, "/metrics", 200, "\nsdp_helmdeploy_leader 1\n", 30*time.Second)
		if code := p.Stop(t, 15*time.Second); code != 0 {
			t.Errorf("exit code %d after SIGTERM", code)
		}
	})

	t.Run("credentials refused: exit 1 with the reason", func(t *testing.T) {
		authSrv := etcdserver.Start(t)
		authSrv.EnableAuth(t, "root", "s3cret")
		p := Start(t, bin, append(append([]string{}, env...), fmt.Sprintf("SDP_CONFIG_PORT=%d", authSrv.Port),
			"SDP_CONFIG_USERNAME=root", "SDP_CONFIG_PASSWORD=wrong"))
		if code := p.Wait(t, 30*time.Second); code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		if !strings.Contains(p.Logs(), "refused the credentials") {
			t.Errorf("logs do not say the credentials were refused:\n%s", p.Logs())
		}
	})
}
