package monitor

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// A state entry deleted by hand, or whose pods part someone else
// overwrote, is written again within seconds, once per tamper; the
// release-manager's writes of its own part cost no write.
func TestStateEntryRepaired(t *testing.T) {
	f := newFixture(t)
	f.deployment("d", "helm")
	f.pods.set(pod("p", "sdp-d", corev1.PodSucceeded))
	f.run()
	want := map[string]configdb.PodStatus{"p": configdb.PodFinished}
	within5s := func(what string) {
		t.Helper()
		eventually.Eventually(t, 5*time.Second, func() error {
			got, _, _ := f.state("d")
			if !maps.Equal(got, want) {
				return fmt.Errorf("%s: pods %v, want %v", what, got, want)
			}
			return nil
		})
	}
	settled := func(n float64) {
		t.Helper()
		f.settle()
		// No write answers the echo of a write.
		time.Sleep(300 * time.Millisecond)
		f.settle()
		if got := f.writes("written"); got != n {
			t.Fatalf("%v pods writes, want %v", got, n)
		}
	}
	within5s("first write")
	settled(1)
	ctx := context.Background()
	key := f.store.Layout().StateKey("d")

	if _, err := f.store.Client().Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	within5s("deleted entry back")
	settled(2)

	// The release-manager writes its part: nothing for this service to do.
	if _, err := f.store.UpdateRelease(ctx, "d", func(configdb.ReleaseStatus, bool) configdb.ReleaseStatus {
		return configdb.ReleaseStatus{Name: "sdp-d", Status: "deployed", Revision: 1}
	}); err != nil {
		t.Fatal(err)
	}
	settled(2)

	// The pods part overwritten: restored, the release part kept.
	if _, err := f.store.Client().Put(ctx, key, `{"pods": {"p": "FAILED", "q": "RUNNING"}, "release": {"name": "sdp-d", "status": "deployed", "revision": 1}}`); err != nil {
		t.Fatal(err)
	}
	within5s("overwritten pods part restored")
	st, _, err := f.store.GetState(ctx, "d")
	if err != nil || st.Release == nil || st.Release.Status != "deployed" {
		t.Errorf("release part %+v (%v), want the release-manager's kept", st.Release, err)
	}
	settled(3)
}
