package releaseindex

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	metafake "k8s.io/client-go/metadata/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/plan"
)

const ns = "sdp"

var secrets = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

// releaseSecret is the metadata of one stored revision as Helm's Secret
// driver labels it, plus our labels when owned.
func releaseSecret(name string, version int, status release.Status, ours map[string]string) *metav1.PartialObjectMetadata {
	labels := map[string]string{"owner": "helm", "name": name, "status": string(status), "version": fmt.Sprint(version)}
	maps.Copy(labels, ours)
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("sh.helm.release.v1.%s.v%d", name, version), Labels: labels},
	}
}

func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := metav1.AddMetaToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func startIndex(t *testing.T, objs ...runtime.Object) (*Index, *metafake.FakeMetadataClient) {
	t.Helper()
	client := metafake.NewSimpleMetadataClient(newScheme(t), objs...)
	x := New(client, ns, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { x.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if !cache.WaitForCacheSync(ctx.Done(), x.HasSynced) {
		t.Fatal("index never synced")
	}
	return x, client
}

// The counts are of owned releases only (the releases gauge); unowned
// ones are reported by the reconciler.
func TestLatestNamesCounts(t *testing.T) {
	ours := plan.Labels("d1")
	x, _ := startIndex(t,
		releaseSecret("sdp-a", 1, release.StatusSuperseded, plan.Labels("d0")),
		releaseSecret("sdp-a", 2, release.StatusDeployed, ours),
		releaseSecret("sdp-b", 1, release.StatusFailed, ours),
		releaseSecret("sdp-c", 3, release.StatusPendingUpgrade, ours),
		// Not ours (no ownership label): indexed, as unowned.
		releaseSecret("sdp-foreign", 1, release.StatusDeployed, nil),
		// Not a Helm release Secret: not indexed.
		func() *metav1.PartialObjectMetadata {
			s := releaseSecret("sdp-other", 1, release.StatusDeployed, ours)
			delete(s.Labels, "owner")
			return s
		}(),
		// Unreadable revision: skipped.
		func() *metav1.PartialObjectMetadata {
			s := releaseSecret("sdp-bad", 1, release.StatusDeployed, ours)
			s.Labels["version"] = "one"
			return s
		}(),
	)
	tests := []struct {
		name  string
		want  plan.Observed
		found bool
	}{
		{"sdp-a", plan.Observed{Exists: true, Owned: true, Status: release.StatusDeployed, Revision: 2, Digest: "d1"}, true},
		{"sdp-b", plan.Observed{Exists: true, Owned: true, Status: release.StatusFailed, Revision: 1, Digest: "d1"}, true},
		{"sdp-c", plan.Observed{Exists: true, Owned: true, Status: release.StatusPendingUpgrade, Revision: 3, Digest: "d1"}, true},
		{"sdp-foreign", plan.Observed{Exists: true, Status: release.StatusDeployed, Revision: 1}, true},
		{"sdp-other", plan.Observed{}, false},
		{"sdp-bad", plan.Observed{}, false},
		{"sdp-none", plan.Observed{}, false},
	}
	for _, tt := range tests {
		got, found := x.Latest(tt.name)
		if got != tt.want || found != tt.found {
			t.Errorf("Latest(%s) = %+v %v, want %+v %v", tt.name, got, found, tt.want, tt.found)
		}
	}
	names := x.Names()
	slices.Sort(names)
	if want := []string{"sdp-a", "sdp-b", "sdp-bad", "sdp-c", "sdp-foreign"}; !slices.Equal(names, want) {
		t.Errorf("Names() = %v, want %v", names, want)
	}
	if got, want := x.CountByStatus(), map[string]int{"deployed": 1, "failed": 1, "pending-upgrade": 1}; !maps.Equal(got, want) {
		t.Errorf("CountByStatus() = %v, want %v", got, want)
	}
}

func TestOnChange(t *testing.T) {
	x, client := startIndex(t)
	var mu sync.Mutex
	var seen []string
	if err := x.OnChange(func(name string) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, name)
	}); err != nil {
		t.Fatal(err)
	}
	rc := client.Resource(secrets).Namespace(ns).(metafake.MetadataClient)
	ours := plan.Labels("d1")
	if _, err := rc.CreateFake(releaseSecret("sdp-a", 1, release.StatusDeployed, ours), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "add seen", func() bool { _, ok := x.Latest("sdp-a"); return ok })
	upd := releaseSecret("sdp-a", 1, release.StatusSuperseded, ours)
	if _, err := rc.UpdateFake(upd, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "update seen", func() bool { o, _ := x.Latest("sdp-a"); return o.Status == release.StatusSuperseded })
	if err := rc.Delete(context.Background(), upd.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delete seen", func() bool { _, ok := x.Latest("sdp-a"); return !ok })
	waitFor(t, "three events", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 3 })
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"sdp-a", "sdp-a", "sdp-a"}; !slices.Equal(seen, want) {
		t.Errorf("OnChange saw %v, want %v", seen, want)
	}
}

func TestIndexFuncs(t *testing.T) {
	tests := []struct {
		name    string
		obj     any
		want    []string
		wantErr bool
	}{
		{"release secret", releaseSecret("sdp-a", 1, release.StatusDeployed, nil), []string{"sdp-a"}, false},
		{"deleted, final state unknown", cache.DeletedFinalStateUnknown{Key: "sdp/x", Obj: releaseSecret("sdp-b", 1, release.StatusDeployed, nil)}, []string{"sdp-b"}, false},
		{"no name label", &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, nil, false},
		{"not an object", "text", nil, true},
	}
	for _, tt := range tests {
		got, err := releaseIndexFunc(tt.obj)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v %v, want %v (error %v)", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// The index keeps only what it reads: a Secret's managed fields and
// annotations, which Helm's and the API server's writes fill, are dropped
// from the cache; labels, name and resource version stay.
func TestCacheHoldsOnlyWhatIsRead(t *testing.T) {
	s := releaseSecret("sdp-a", 1, release.StatusDeployed, map[string]string{plan.LabelManagedBy: plan.ManagedByValue})
	s.ResourceVersion = "7"
	s.Annotations = map[string]string{"meta.helm.sh/note": "x"}
	s.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "helm", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1",
		FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{}}}`)}}}
	s.Finalizers = []string{"x"}
	x, _ := startIndex(t, s)
	objs := x.informer.GetStore().List()
	if len(objs) != 1 {
		t.Fatalf("%d objects cached, want 1", len(objs))
	}
	m := objs[0].(*metav1.PartialObjectMetadata)
	if len(m.ManagedFields) != 0 || len(m.Annotations) != 0 || len(m.Finalizers) != 0 {
		t.Errorf("cached metadata keeps what the index never reads: %+v", m.ObjectMeta)
	}
	if m.Name != s.Name || m.Namespace != ns || m.ResourceVersion != "7" || !maps.Equal(m.Labels, s.Labels) {
		t.Errorf("cached metadata lost what the index needs: %+v", m.ObjectMeta)
	}
	if o, ok := x.Latest("sdp-a"); !ok || !o.Owned || o.Revision != 1 || o.Status != release.StatusDeployed {
		t.Errorf("Latest: %+v %v", o, ok)
	}
}
