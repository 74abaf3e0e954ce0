//go:build unix

package localcp_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
)

func TestReadAuditEvents(t *testing.T) {
	line := func(id, verb, ua string) string {
		return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"` + id + `","stage":"ResponseComplete",` +
			`"requestURI":"/api/v1/namespaces/a/configmaps","verb":"` + verb + `","user":{"username":"admin"},"userAgent":"` + ua + `",` +
			`"objectRef":{"resource":"configmaps","namespace":"a","name":"x","apiVersion":"v1"},"responseStatus":{"code":201},` +
			`"requestReceivedTimestamp":"2026-12-01T10:00:00.123456Z","stageTimestamp":"2026-12-01T10:00:00.200000Z"}`
	}
	for _, tc := range []struct {
		name    string
		in      string
		keep    func(*auditv1.Event) bool
		wantIDs []string
		wantErr string
	}{
		{name: "empty"},
		{name: "all", in: line("1", "create", "a/1") + "\n\n" + line("2", "delete", "b/1") + "\n", wantIDs: []string{"1", "2"}},
		{name: "filtered", in: line("1", "create", "a/1") + "\n" + line("2", "delete", "b/1") + "\n",
			keep: func(e *auditv1.Event) bool { return e.UserAgent == "b/1" }, wantIDs: []string{"2"}},
		{name: "last line being written", in: line("1", "create", "a/1") + "\n" + line("2", "delete", "b/1")[:40], wantIDs: []string{"1"}},
		{name: "bad line", in: line("1", "create", "a/1") + "\n{not json\n" + line("2", "delete", "b/1") + "\n", wantErr: "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := localcp.ReadAuditEvents(strings.NewReader(tc.in), tc.keep)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range evs {
				ids = append(ids, string(e.AuditID))
			}
			if strings.Join(ids, ",") != strings.Join(tc.wantIDs, ",") {
				t.Errorf("events %v, want %v", ids, tc.wantIDs)
			}
			for _, e := range evs {
				if e.RequestReceivedTimestamp.Time.IsZero() || e.RequestReceivedTimestamp.Nanosecond() != 123456000 {
					t.Errorf("requestReceivedTimestamp %v, want microseconds kept", e.RequestReceivedTimestamp)
				}
				if e.ObjectRef == nil || e.ObjectRef.Resource != "configmaps" {
					t.Errorf("objectRef %+v", e.ObjectRef)
				}
			}
		})
	}
}

// TestAuditLog: the shared control plane (started with AuditLog) logs a
// create and a delete with the client's user agent and leaves out reads.
func TestAuditLog(t *testing.T) {
	cp := cptest.Get(t)
	cfg := cp.RESTConfig()
	ua := "audit-test/v0 (" + t.Name() + ")"
	cfg.UserAgent = ua
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "audited"}}
	before := time.Now().Add(-time.Second)
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "audited", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().ConfigMaps("default").Delete(ctx, "audited", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var verbs []string
	err = eventually.Poll(ctx, 10*time.Second, 100*time.Millisecond, func(context.Context) error {
		evs, err := cp.ReadAuditLog(func(e *auditv1.Event) bool { return e.UserAgent == ua })
		if err != nil {
			return err
		}
		verbs = nil
		for _, e := range evs {
			if e.ObjectRef == nil || e.ObjectRef.Name != "audited" || e.RequestReceivedTimestamp.Time.Before(before) {
				t.Errorf("unexpected entry %+v", e)
			}
			verbs = append(verbs, e.Verb)
		}
		if strings.Join(verbs, ",") != "create,delete" {
			return fmt.Errorf("verbs %v so far", verbs)
		}
		return nil
	})
	if err != nil || strings.Join(verbs, ",") != "create,delete" {
		t.Fatalf("audit log entries of user agent %q: verbs %v (want create,delete; no get): %v", ua, verbs, err)
	}
	paths, err := cp.AuditLogPaths()
	if err != nil || len(paths) == 0 || !strings.HasSuffix(paths[len(paths)-1], "logs/audit.log") {
		t.Errorf("AuditLogPaths = %v, %v", paths, err)
	}
}
