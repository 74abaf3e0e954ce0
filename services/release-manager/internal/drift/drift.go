// Package drift finds the objects of a release that someone other than the
// release-manager deleted or changed, reports them and, as its mode says,
// puts them back exactly as the release's current revision holds them,
// without a new Helm revision.
//
// The objects are watched, metadata only, one informer per resource the
// releases use: a delete, or a change of an object's generation (its spec),
// says when to look; what counts as drift is decided by comparing the
// object with the revision's manifest over the fields the manifest sets
// (Diff). Jobs and Pods run once and are never made again; cluster-scoped
// objects are not watched. docs/architecture.md, §4a. What runs: drift and readiness.
package drift

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"helm.sh/helm/v3/pkg/releaseutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"sigs.k8s.io/yaml"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// Mode is what is done about one kind of drift.
type Mode string

// The modes.
const (
	Off     Mode = "off"
	Warn    Mode = "warn"
	Correct Mode = "correct"
)

// ParseMode reads a mode.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case Off, Warn, Correct:
		return m, nil
	}
	return "", fmt.Errorf("drift mode %q: want off, warn or correct", s)
}

// Modes says what is done about deleted and about changed objects.
type Modes struct {
	Deleted, Changed Mode
}

// ModesFor returns the modes of a deployer's setting: mode for deleted
// objects, and for changed ones warn at most unless correctChanged.
func ModesFor(mode Mode, correctChanged bool) Modes {
	m := Modes{Deleted: mode, Changed: mode}
	if mode == Correct && !correctChanged {
		m.Changed = Warn
	}
	return m
}

// FieldManager is the name the corrections are written under, so that an
// object's managed fields say which fields drift correction put back.
const FieldManager = "sdp-release-manager-drift"

// Config is what a Checker needs.
type Config struct {
	// Namespace is the releases' namespace; objects elsewhere are not
	// watched.
	Namespace string
	Mapper    meta.RESTMapper
	// Dynamic reads objects whole and writes corrections; Metadata
	// watches them.
	Dynamic  dynamic.Interface
	Metadata metadata.Interface
	// Manifest returns the manifest of a release's revision.
	Manifest func(release string, revision int) (string, error)
	Modes    Modes
	// OnChange is told the release of an object that may have drifted.
	OnChange func(release string)
	// Events counts drift by kind, change and action (corrected, warned,
	// failed).
	Events *prometheus.CounterVec
	Log    *slog.Logger
	Now    func() time.Time
	// SyncWait bounds the wait for a new informer's first list.
	SyncWait time.Duration
}

// Checker finds and handles drift; safe for concurrent use, with one
// release's checks serialised by the caller.
type Checker struct {
	cfg Config
	w   *watcher

	mu  sync.Mutex
	rel map[string]*tracked
}

// tracked is what is known of one release's current revision.
type tracked struct {
	revision int
	objects  []ref
	// seen holds, per object, the version (generation, or resource
	// version for objects without one) last found clean or already
	// reported, so that a check looks only at what changed since.
	seen []string
	// records is the drift of this revision, as the state entry says it.
	records []configdb.DriftRecord
}

// ref names one object of a release.
type ref struct {
	gvr  schema.GroupVersionResource
	kind string
	name string
	// runOnce marks Jobs and Pods: watched for readiness, never drift.
	runOnce bool
}

// Object names one object of a release, for readiness.
type Object struct {
	GVR  schema.GroupVersionResource
	Kind string
	Name string
}

// Objects returns the namespaced objects of a release's revision (Jobs and
// Pods included), reading its manifest when it is not known yet.
func (c *Checker) Objects(release string, revision int) ([]Object, error) {
	t, _, err := c.tracked(release, revision)
	if err != nil {
		return nil, err
	}
	out := make([]Object, 0, len(t.objects))
	watched := map[schema.GroupVersionResource]bool{}
	for _, r := range t.objects {
		out = append(out, Object{GVR: r.gvr, Kind: r.kind, Name: r.name})
		// Watched so that a change of their status says when to look
		// again.
		if !watched[r.gvr] && ReadinessKinds[r.kind] {
			watched[r.gvr] = true
			if _, err := c.w.informer(r.gvr, true, c.cfg.SyncWait); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// New returns a Checker whose informers run until ctx ends.
func New(ctx context.Context, cfg Config) *Checker {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SyncWait == 0 {
		cfg.SyncWait = 30 * time.Second
	}
	return &Checker{cfg: cfg, w: newWatcher(ctx, cfg.Metadata, cfg.Namespace, cfg.OnChange), rel: map[string]*tracked{}}
}

// Enabled reports whether anything is watched.
func (c *Checker) Enabled() bool {
	return c != nil && (c.cfg.Modes.Deleted != Off || c.cfg.Modes.Changed != Off)
}

// Forget drops what is known of a release (uninstalled).
func (c *Checker) Forget(release string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.rel, release)
}

// Check looks at the objects of a release's revision and handles what
// drifted. It returns the revision's drift records (empty, not nil, when
// there is none) and an error when an object could not be looked at or put
// back; what was found before the error is recorded.
func (c *Checker) Check(ctx context.Context, release string, revision int) ([]configdb.DriftRecord, error) {
	if !c.Enabled() {
		return nil, nil
	}
	t, manifest, err := c.tracked(release, revision)
	if err != nil {
		return nil, err
	}
	// The revision's objects as the manifest holds them: parsed already
	// when tracked had to read the manifest, else read when first needed
	// (a deleted or changed object), so that no look reads it twice.
	want := func(r ref) (map[string]any, error) {
		if manifest == nil {
			m, err := c.cfg.Manifest(release, revision)
			if err != nil {
				return nil, fmt.Errorf("release %s revision %d: %w", release, revision, err)
			}
			if _, manifest, err = c.parse(m); err != nil {
				return nil, err
			}
		}
		obj, ok := manifest[r]
		if !ok {
			return nil, fmt.Errorf("release %s revision %d: %s %s not in its manifest", release, revision, r.kind, r.name)
		}
		return obj, nil
	}
	var errs []error
	for i, r := range t.objects {
		if r.runOnce {
			continue
		}
		if err := c.checkObject(ctx, release, t, i, r, want); err != nil {
			errs = append(errs, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]configdb.DriftRecord{}, t.records...), errors.Join(errs...)
}

func (c *Checker) checkObject(ctx context.Context, release string, t *tracked, i int, r ref, want func(ref) (map[string]any, error)) error {
	inf, err := c.w.informer(r.gvr, ReadinessKinds[r.kind], c.cfg.SyncWait)
	if err != nil {
		return err
	}
	m, cached := get(inf, c.cfg.Namespace, r.name)
	if !cached || m.DeletionTimestamp != nil {
		// The cache may lag a create of our own: a live read decides.
		live, err := c.cfg.Metadata.Resource(r.gvr).Namespace(c.cfg.Namespace).Get(ctx, r.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return c.deleted(ctx, release, t, i, r, want)
		case err != nil:
			return fmt.Errorf("read %s %s: %w", r.kind, r.name, err)
		}
		m = live
	}
	version := versionOf(m)
	c.mu.Lock()
	same := t.seen[i] == version
	c.mu.Unlock()
	if same {
		return nil
	}
	return c.compare(ctx, release, t, i, r, version, want)
}

func versionOf(m *metav1.PartialObjectMetadata) string {
	if m.Generation != 0 {
		return fmt.Sprintf("g%d", m.Generation)
	}
	return "r" + m.ResourceVersion
}

func (c *Checker) deleted(ctx context.Context, release string, t *tracked, i int, r ref, want func(ref) (map[string]any, error)) error {
	mode := c.cfg.Modes.Deleted
	c.mu.Lock()
	reported := t.seen[i] == "deleted"
	c.mu.Unlock()
	if mode == Off || (mode == Warn && reported) {
		return nil
	}
	rec := configdb.DriftRecord{Kind: r.kind, Name: r.name, Change: configdb.DriftDeleted}
	rec.Seen = c.now()
	if mode == Warn {
		c.record(t, i, rec, "deleted", "warned")
		return nil
	}
	obj, err := want(r)
	if err != nil {
		return err
	}
	u := c.asHelmMade(release, obj)
	_, err = c.cfg.Dynamic.Resource(r.gvr).Namespace(c.cfg.Namespace).Create(ctx, u, metav1.CreateOptions{FieldManager: FieldManager})
	switch {
	case apierrors.IsAlreadyExists(err):
		return nil // made meanwhile (our own install, whose cache lagged)
	case err != nil:
		c.count(r.kind, configdb.DriftDeleted, "failed")
		c.cfg.Log.Warn("drift: deleted object of a release could not be made again", "release", release,
			"kind", r.kind, "name", r.name, "error", err)
		return fmt.Errorf("drift: make %s %s of release %s again: %w", r.kind, r.name, release, err)
	}
	rec.Corrected = c.now()
	c.record(t, i, rec, "", "corrected")
	return nil
}

func (c *Checker) compare(ctx context.Context, release string, t *tracked, i int, r ref, version string, want func(ref) (map[string]any, error)) error {
	live, err := c.cfg.Dynamic.Resource(r.gvr).Namespace(c.cfg.Namespace).Get(ctx, r.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return c.deleted(ctx, release, t, i, r, want)
	}
	if err != nil {
		return fmt.Errorf("read %s %s: %w", r.kind, r.name, err)
	}
	obj, err := want(r)
	if err != nil {
		return err
	}
	fields, n := Diff(obj, live.Object, live.GetManagedFields())
	if n == 0 {
		c.mu.Lock()
		t.seen[i] = version
		// A change reported earlier has been undone.
		t.records = dropOpen(t.records, r)
		c.mu.Unlock()
		return nil
	}
	mode := c.cfg.Modes.Changed
	if mode == Off {
		c.mu.Lock()
		t.seen[i] = version
		c.mu.Unlock()
		return nil
	}
	if n > len(fields) {
		fields = append(fields, fmt.Sprintf("(+%d more)", n-len(fields)))
	}
	rec := configdb.DriftRecord{Kind: r.kind, Name: r.name, Change: configdb.DriftChanged, Fields: fields}
	rec.Seen = c.now()
	if mode == Warn {
		c.record(t, i, rec, version, "warned")
		return nil
	}
	// Server-side apply of the revision's object, forced: every field the
	// manifest sets goes back to its value, and nothing it does not set is
	// touched (what controllers and defaults added stays).
	body, err := c.asHelmMade(release, obj).MarshalJSON()
	if err != nil {
		return fmt.Errorf("drift: encode %s %s: %w", r.kind, r.name, err)
	}
	force := true
	_, err = c.cfg.Dynamic.Resource(r.gvr).Namespace(c.cfg.Namespace).Patch(ctx, r.name, types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: FieldManager, Force: &force})
	if err != nil {
		c.count(r.kind, configdb.DriftChanged, "failed")
		c.cfg.Log.Warn("drift: changed object of a release could not be put back", "release", release,
			"kind", r.kind, "name", r.name, "fields", fields, "error", err)
		return fmt.Errorf("drift: put back %s %s of release %s: %w", r.kind, r.name, release, err)
	}
	rec.Corrected = c.now()
	c.record(t, i, rec, "", "corrected")
	return nil
}

// record notes a drift event: in the release's records (one per object,
// the latest; at most configdb.MaxDriftRecords, oldest dropped), the
// counter and the log. seen is what the object's version is remembered
// as ("" to look again at the next check: after a correction, whose own
// echo then finds the object clean).
func (c *Checker) record(t *tracked, i int, rec configdb.DriftRecord, seen, action string) {
	c.mu.Lock()
	t.seen[i] = seen
	out := t.records[:0]
	for _, old := range t.records {
		if old.Kind != rec.Kind || old.Name != rec.Name {
			out = append(out, old)
		}
	}
	out = append(out, rec)
	if len(out) > configdb.MaxDriftRecords {
		out = out[len(out)-configdb.MaxDriftRecords:]
	}
	t.records = out
	c.mu.Unlock()
	c.count(rec.Kind, rec.Change, action)
	c.cfg.Log.Info("drift: object of a release "+rec.Change+" by someone else", "kind", rec.Kind, "name", rec.Name,
		"fields", rec.Fields, "action", action)
}

// dropOpen removes the record of r that was only reported, not corrected.
func dropOpen(records []configdb.DriftRecord, r ref) []configdb.DriftRecord {
	out := records[:0]
	for _, rec := range records {
		if rec.Kind == r.kind && rec.Name == r.name && rec.Corrected == "" {
			continue
		}
		out = append(out, rec)
	}
	return out
}

func (c *Checker) count(kind, change, action string) {
	if c.cfg.Events != nil {
		c.cfg.Events.WithLabelValues(kind, change, action).Inc()
	}
}

func (c *Checker) now() string { return c.cfg.Now().UTC().Format(time.RFC3339) }

// asHelmMade is obj as Helm made it: in the namespace, with the marks
// Helm adds at install (the manifest does not hold them), so that Helm
// still owns the object at the next upgrade.
func (c *Checker) asHelmMade(release string, obj map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: runtimeCopy(obj)}
	u.SetNamespace(c.cfg.Namespace)
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[labelManagedBy] = "Helm"
	u.SetLabels(labels)
	ann := u.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[annotationRelease], ann[annotationNS] = release, c.cfg.Namespace
	u.SetAnnotations(ann)
	return u
}

func runtimeCopy(obj map[string]any) map[string]any {
	return (&unstructured.Unstructured{Object: obj}).DeepCopy().Object
}

// tracked returns what is known of release at revision, reading the
// revision's manifest when it is not known yet; the objects it parsed then
// are returned too (nil when nothing was read), for the caller's look.
func (c *Checker) tracked(release string, revision int) (*tracked, map[ref]map[string]any, error) {
	c.mu.Lock()
	t := c.rel[release]
	c.mu.Unlock()
	if t != nil && t.revision == revision {
		return t, nil, nil
	}
	m, err := c.cfg.Manifest(release, revision)
	if err != nil {
		return nil, nil, fmt.Errorf("release %s revision %d: %w", release, revision, err)
	}
	refs, objs, err := c.parse(m)
	if err != nil {
		return nil, nil, fmt.Errorf("release %s revision %d: %w", release, revision, err)
	}
	t = &tracked{revision: revision, objects: refs, seen: make([]string, len(refs))}
	c.mu.Lock()
	c.rel[release] = t
	c.mu.Unlock()
	return t, objs, nil
}

// parse reads the objects of a manifest that are looked after: namespaced
// objects in the namespace, not objects owned by another object (their
// owner's controller and the garbage collector decide about them). Jobs
// and Pods are marked runOnce: their readiness counts, but re-running
// processing is not a repair.
func (c *Checker) parse(manifest string) ([]ref, map[ref]map[string]any, error) {
	var refs []ref
	objs := map[ref]map[string]any{}
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	for _, key := range keys {
		doc := docs[key]
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, nil, fmt.Errorf("manifest: %w", err)
		}
		if len(obj) == 0 {
			continue
		}
		u := unstructured.Unstructured{Object: obj}
		gvk := u.GroupVersionKind()
		if gvk.Kind == "" || len(u.GetOwnerReferences()) > 0 {
			continue
		}
		if ns := u.GetNamespace(); ns != "" && ns != c.cfg.Namespace {
			continue
		}
		mapping, err := c.cfg.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			// A kind the cluster does not serve (any more): nothing to
			// watch; Helm's next action reports it.
			c.cfg.Log.Debug("drift: kind not served; not watched", "kind", gvk.String(), "error", err)
			continue
		}
		if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
			continue
		}
		r := ref{gvr: mapping.Resource, kind: gvk.Kind, name: u.GetName(), runOnce: gvk.Kind == "Job" || gvk.Kind == "Pod"}
		if _, dup := objs[r]; dup {
			continue
		}
		refs = append(refs, r)
		objs[r] = obj
	}
	return refs, objs, nil
}
