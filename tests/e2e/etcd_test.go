package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/ska-telescope/sdp-helmdeploy/shared/leader"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
)

// startTestConfigDB starts a 3-member config DB from the control plane's
// etcd binary, stopped at the end of t; it skips (fails with
// SDP_REQUIRE_CONTROLPLANE=1) when the binary is not built.
func startTestConfigDB(t *testing.T) *ConfigDB {
	t.Helper()
	bin := filepath.Join(localcp.DefaultBinDir(), "etcd")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv(cptest.RequireEnv) == "1" {
			t.Fatalf("%s=1 and no etcd binary: %v", cptest.RequireEnv, err)
		}
		t.Skipf("SKIP!!! no etcd binary (%v): run `make controlplane-binaries`", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := StartConfigDB(ctx, bin, t.TempDir(), ConfigDBMembers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("stop the config DB: %v", err)
		}
	})
	return db
}

func newClient(t *testing.T, endpoints []string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// putSoon writes through c, retrying for a few seconds while the client
// moves off a member that went away.
func putSoon(ctx context.Context, c *clientv3.Client, key, val string) error {
	return eventually.Poll(ctx, 15*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := c.Put(pctx, key, val)
		return err
	})
}

// TestConfigDB: the 3-member config DB keeps taking writes through the
// proxies while a follower is killed and while a member is cut off; the
// killed member, restarted on its data, has every write; all members
// stopped and started again keep them.
func TestConfigDB(t *testing.T) {
	db := startTestConfigDB(t)
	ctx := context.Background()
	var viaProxies []string
	for _, p := range db.Proxies {
		viaProxies = append(viaProxies, "http://"+p.Addr)
	}
	if hosts := strings.Split(db.ProxyHosts(), ","); len(hosts) != 3 || "http://"+hosts[2] != viaProxies[2] {
		t.Errorf("ProxyHosts %q, want the three proxies", db.ProxyHosts())
	}
	services, direct := newClient(t, viaProxies), newClient(t, db.Endpoints())
	if err := putSoon(ctx, services, "k", "1"); err != nil {
		t.Fatal(err)
	}

	lead, err := db.RaftLeader(ctx, direct)
	if err != nil {
		t.Fatal(err)
	}
	follower := db.Members[(lead+1)%3]
	follower.Kill()
	if err := putSoon(ctx, services, "k", "2"); err != nil {
		t.Fatalf("write with follower %s killed: %v", follower.Name, err)
	}
	if err := follower.Start(ctx); err != nil {
		t.Fatalf("restart %s: %v", follower.Name, err)
	}
	only := newClient(t, []string{follower.Endpoint})
	err = eventually.Poll(ctx, 10*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
		resp, err := only.Get(ctx, "k", clientv3.WithSerializable())
		if err != nil {
			return err
		}
		if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "2" {
			return fmt.Errorf("k on %s: %v", follower.Name, resp.Kvs)
		}
		return nil
	})
	if err != nil {
		t.Errorf("the restarted member did not catch up: %v", err)
	}

	db.Proxies[lead].Cut()
	if err := putSoon(ctx, services, "k", "3"); err != nil {
		t.Errorf("write with the raft leader %s cut off: %v", db.Members[lead].Name, err)
	}
	db.Proxies[lead].Heal()

	if killed, err := db.Stop(); err != nil {
		t.Fatal(err)
	} else if len(killed) > 0 {
		t.Logf("killed after the grace: %v", killed)
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := db.Start(sctx); err != nil {
		t.Fatal(err)
	}
	resp, err := direct.Get(sctx, "k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "3" {
		t.Errorf("after all members restarted: %v %v, want k=3", resp, err)
	}
}

// TestWatchTerms: the terms watched from a real election, ended by the
// deletion of the leader's key at the revision its lease's revocation
// reports.
func TestWatchTerms(t *testing.T) {
	db := startTestConfigDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newClient(t, db.Endpoints())
	terms := NewTerms()
	if err := WatchTerms(ctx, c, "/e2e", []string{"svc"}, terms, t.Logf); err != nil {
		t.Fatal(err)
	}
	campaign := func(id string) (*concurrency.Session, <-chan error) {
		s, err := concurrency.NewSession(c, concurrency.WithTTL(5))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- concurrency.NewElection(s, leader.ElectionKey("/e2e", "svc")).Campaign(ctx, id) }()
		return s, done
	}
	a, aWon := campaign("svc-0")
	if err := <-aWon; err != nil {
		t.Fatal(err)
	}
	b, bWon := campaign("svc-1")
	defer b.Close()
	current := func(want string) Term {
		t.Helper()
		var cur Term
		err := eventually.Poll(ctx, 10*time.Second, 20*time.Millisecond, func(context.Context) error {
			var ok bool
			if cur, ok = terms.Current("svc"); !ok || cur.Identity != want {
				return fmt.Errorf("current term %+v", cur)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("want %s leading: %v", want, err)
		}
		return cur
	}
	first := current("svc-0")
	// svc-1's key is there, waiting, before svc-0's lease goes.
	err := eventually.Poll(ctx, 10*time.Second, 20*time.Millisecond, func(ctx context.Context) error {
		resp, err := c.Get(ctx, leader.ElectionKey("/e2e", "svc")+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil || resp.Count != 2 {
			return fmt.Errorf("election keys: %v %v", resp, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Revoke(ctx, a.Lease())
	if err != nil {
		t.Fatal(err)
	}
	if err := <-bWon; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	second := current("svc-1")
	ended, ok := TermOf(terms.All(), "svc", "svc-0", first.Start)
	if !ok || !ended.Ended() || ended.EndRev != resp.Header.Revision {
		t.Errorf("svc-0's term %+v, want ended at revision %d (its lease revoked)", ended, resp.Header.Revision)
	}
	if second.StartRev != resp.Header.Revision {
		t.Errorf("svc-1's term from revision %d, want %d", second.StartRev, resp.Header.Revision)
	}
	if terms.Gaps() != 0 {
		t.Errorf("%d gaps in a watch that was never lost", terms.Gaps())
	}
}
