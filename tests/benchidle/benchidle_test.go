package benchidle

import (
	"context"
	"maps"
	"os"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/leader"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name         string
		line         string
		utime, stime uint64
		wantErr      bool
	}{
		{name: "plain", line: "4242 (pod-monitor) S 1 4242 4242 0 -1 4194560 2113 0 0 0 731 254 0 0 20 0 9 0 1000 0 0",
			utime: 731, stime: 254},
		{name: "command with spaces and parentheses", line: "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 12 3 0 0 20 0 1 0 5 0 0",
			utime: 12, stime: 3},
		{name: "no command", line: "7 a R 1", wantErr: true},
		{name: "too short", line: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 12", wantErr: true},
		{name: "not a number", line: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 x 3 0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, s, err := parseStat([]byte(tt.line))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (u != tt.utime || s != tt.stime) {
				t.Errorf("utime, stime = %d, %d; want %d, %d", u, s, tt.utime, tt.stime)
			}
		})
	}
}

// The test process's own CPU time is read and grows with work done.
func TestCPUSecondsOfSelf(t *testing.T) {
	before, err := CPUSeconds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	grew := false
	for range 200 {
		for i := range 10_000_000 {
			x ^= i
		}
		after, err := CPUSeconds(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if grew = after-before >= 0.05; grew {
			break
		}
	}
	if !grew {
		t.Errorf("CPU time did not grow from %.2f s with work done (x=%d)", before, x)
	}
	if _, err := CPUSeconds(-1); err == nil {
		t.Error("no error for a pid that cannot exist")
	}
}

func TestWriteKind(t *testing.T) {
	for _, prefix := range []string{"", "/test"} {
		l, err := configdb.NewLayout(prefix)
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct{ key, want string }{
			{l.StateKey("d1"), "state"},
			{l.DeploymentKey("d1"), "deploy"},
			{l.Key(configdb.ResourcePath(configdb.SupernetResourceID("sn"))), "resource"},
			{leader.ElectionKey(prefix, "release-manager") + "/694d9c", "other"},
		}
		for _, tt := range tests {
			if got := WriteKind(l, tt.key); got != tt.want {
				t.Errorf("prefix %q: WriteKind(%q) = %q, want %q", prefix, tt.key, got, tt.want)
			}
		}
	}
}

// Writes are counted between two revisions, bounds included as documented,
// the writes of one transaction all at once.
func TestWritesBetween(t *testing.T) {
	client := etcdtest.Start(t).Client(t)
	l, err := configdb.NewLayout("")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(ops ...clientv3.Op) int64 {
		resp, err := client.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	r1 := put(clientv3.OpPut(l.DeploymentKey("a"), "{}"))
	r2 := put(clientv3.OpPut(l.StateKey("a"), "{}"))
	r3 := put(clientv3.OpPut(l.StateKey("a"), "{}"), clientv3.OpPut(l.DeploymentKey("b"), "{}"))
	r4 := put(clientv3.OpDelete(l.StateKey("a")))
	tests := []struct {
		from, to int64
		want     map[string]int
	}{
		{r1, r1, map[string]int{}},
		{r1 - 1, r1, map[string]int{"deploy": 1}},
		{r1, r3, map[string]int{"state": 2, "deploy": 1}},
		{r2, r3, map[string]int{"state": 1, "deploy": 1}},
		{r1 - 1, r4, map[string]int{"state": 3, "deploy": 2}},
	}
	for _, tt := range tests {
		if got := writesBetween(t, client, l, tt.from, tt.to); !maps.Equal(got, tt.want) {
			t.Errorf("writes in (%d, %d] = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}
