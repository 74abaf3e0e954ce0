package settings_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/settings"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdserver"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// TestClusterLosesAMember: a Store over a 3-member cluster named by
// SDP_CONFIG_HOST keeps reading, writing and watching while any one member
// is down. Each member is stopped in turn (and brought back before the
// next), so the one the watch stream is on is among them.
func TestClusterLosesAMember(t *testing.T) {
	cl := etcdserver.StartCluster(t, 3)
	env := envFor(2379, map[string]string{"SDP_CONFIG_HOST": cl.Hosts})
	if got, want := strings.Join(env.Endpoints(), ","), strings.Join(cl.Endpoints, ","); got != want {
		t.Fatalf("SDP_CONFIG_HOST=%s: endpoints %s, want %s", cl.Hosts, got, want)
	}
	byURL := envFor(2379, map[string]string{"SDP_CONFIG_ENDPOINTS": strings.Join(cl.Endpoints, ",")})
	if got, want := strings.Join(byURL.Endpoints(), ","), strings.Join(cl.Endpoints, ","); got != want {
		t.Fatalf("SDP_CONFIG_ENDPOINTS: endpoints %s, want %s", got, want)
	}
	client, err := settings.NewClient(env)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	store, err := configdb.NewStore(client, "")
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	seen := make(chan string, 100)
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- store.WatchDeployments(c, configdb.DeploymentWatch{
			OnResync: func(list configdb.DeploymentList, _ string) {
				for _, d := range list.Deployments {
					seen <- d.ID
				}
			},
			OnEvent: func(ev configdb.DeploymentEvent) {
				if !ev.Deleted {
					seen <- ev.ID
				}
			},
		})
	}()
	waitSeen := func(id string) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case got := <-seen:
				if got == id {
					return
				}
			case <-deadline:
				t.Fatalf("watch did not see %s", id)
			}
		}
	}
	// write retries: a call that was on the member as it stopped may fail
	// once; the client then goes to the others. What must not happen is
	// that the cluster stays unusable.
	write := func(id string) {
		t.Helper()
		if err := eventually.Poll(c, time.Minute, 250*time.Millisecond, func(ctx context.Context) error {
			cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
			defer ccancel()
			return store.PutDeployment(cctx, configdb.Deployment{ID: id, Kind: configdb.KindHelm, Chart: "c"})
		}); err != nil {
			t.Fatalf("write %s with a member down: %v", id, err)
		}
	}
	write("before")
	waitSeen("before")
	for i, m := range cl.Members {
		m.Stop()
		id := fmt.Sprintf("without-m%d", i)
		write(id)
		d, found, err := store.GetDeployment(c, id)
		if err != nil || !found || d.ID != id {
			t.Fatalf("read %s with member %d down: %+v, %v, %v", id, i, d, found, err)
		}
		waitSeen(id)
		m.Restart()
	}
	cancel()
	if err := <-watchDone; err != context.Canceled {
		t.Errorf("watch ended with %v", err)
	}
}
