package app

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/leader"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest/leadertest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// pauseOnce holds the first request that creates a ConfigMap (a chart's
// object, in the middle of an install) until resume is closed, as a process
// paused with that request on its way.
type pauseOnce struct {
	once    sync.Once
	paused  chan struct{}
	resumed chan struct{}
}

// wrap is the pause in one client's transport.
func (p *pauseOnce) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/configmaps") {
			p.once.Do(func() {
				close(p.paused)
				<-p.resumed
			})
		}
		return next.RoundTrip(req)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// fenced is the value of sdp_helmdeploy_fenced_total{what} in reg.
func fenced(t *testing.T, reg prometheus.Gatherer, what string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "sdp_helmdeploy_fenced_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "what" && l.GetValue() == what {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no sdp_helmdeploy_fenced_total{what=%q}", what)
	return 0
}

// A release-manager paused in the middle of an install, past the end of
// its term, sends no further write when it resumes: Helm's record of the
// release stays as the pause left it (for the next leader to unlock), the
// deployment is not marked failed, and the term's work stops.
func TestPausedInAnInstall(t *testing.T) {
	e := newEnv(t)
	rt := etcdtest.Runtime(t, "release-manager", e.env, e.newStore())
	rt.Fencing = leader.NewMetrics(rt.Registry)
	pause := &pauseOnce{paused: make(chan struct{}), resumed: make(chan struct{})}
	cfg := rest.CopyConfig(e.cfg)
	cfg.Wrap(pause.wrap)
	lead, err := New(rt, cfg, Options{CacheDir: t.TempDir(), Resync: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	term, leadCtx, lose := leadertest.Term(t, e.store.Client(), leader.ElectionKey("", "release-manager"))
	done := make(chan error, 1)
	go func() { done <- lead(leader.WithTerm(leadCtx, term)) }()

	e.put("paused", entry("paused", "cm", "{}"))
	select {
	case <-pause.paused:
	case <-time.After(60 * time.Second):
		t.Fatal("install never reached the chart's ConfigMap")
	}
	lose()
	eventually.True(t, 10*time.Second, "the term to end", func() bool { return !term.Valid() })
	close(pause.resumed)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("lead: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("lead did not return after its term ended")
	}

	// Helm's release record stays pending: its update after the objects
	// were made was refused.
	secrets, err := e.cs.CoreV1().Secrets(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=sdp-paused"})
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) != 1 || secrets.Items[0].Labels["status"] != "pending-install" {
		var statuses []string
		for _, s := range secrets.Items {
			statuses = append(statuses, s.Labels["status"])
		}
		t.Errorf("release revisions with statuses %v, want one pending-install", statuses)
	}
	if n := fenced(t, rt.Registry, leader.FencedKubeWrite); n < 1 {
		t.Errorf("fenced kube writes = %v, want at least 1", n)
	}
	st, found, err := e.store.GetState(context.Background(), "paused")
	if err != nil {
		t.Fatal(err)
	}
	if !found || st.Release == nil || st.Release.Status != configdb.ReleasePendingInstall || st.Release.Error != "" {
		t.Errorf("state %+v (found %v): want pending-install with no error, not the failure of a fenced replica", st.Release, found)
	}
}
