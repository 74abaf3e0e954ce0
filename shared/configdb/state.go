package configdb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The parts of a state entry, each owned by one service.
const (
	PartPods    = "pods"
	PartRelease = "release"
)

var (
	// ErrNoDeployment is returned by state updates when the deployment entry
	// does not exist: nobody creates state for a deployment that is gone.
	ErrNoDeployment = errors.New("deployment entry does not exist")
	// ErrBadState marks a state entry that cannot be read: not a JSON
	// object, or a part of the wrong shape. It is never
	// overwritten, since that would lose whatever another tool put there.
	ErrBadState = errors.New("state entry cannot be read")
)

// PodStatus is the status of one pod as processing scripts see it.
type PodStatus string

// Pod statuses, as the pods part of a state entry holds them; the pod-monitor
// decides which (services/pod-monitor/internal/podstatus).
const (
	PodPending   PodStatus = "PENDING"
	PodRunning   PodStatus = "RUNNING"
	PodFinished  PodStatus = "FINISHED"
	PodCancelled PodStatus = "CANCELLED"
	PodFailed    PodStatus = "FAILED"
	PodUnset     PodStatus = "UNSET"
)

// PodStatuses lists every pod status, for metrics that report each.
var PodStatuses = []PodStatus{PodPending, PodRunning, PodFinished, PodCancelled, PodFailed, PodUnset}

// Release statuses written by the release-manager. Helm's own status names
// are used where one exists.
const (
	ReleaseDeployed       = "deployed"
	ReleaseFailed         = "failed"
	ReleasePendingInstall = "pending-install"
	ReleasePendingUpgrade = "pending-upgrade"
	ReleaseUninstalling   = "uninstalling"
)

// ReleaseStatus is the "release" part of a state entry, owned by the
// release-manager. Fields that other tools add next to these are kept.
type ReleaseStatus struct {
	// Name is the Helm release name.
	Name string `json:"name,omitempty"`
	// Status is the Helm status (deployed, failed, pending-install, ...).
	Status string `json:"status,omitempty"`
	// Revision is the Helm release revision.
	Revision int `json:"revision,omitempty"`
	// Chart and Version name the chart deployed (or attempted).
	Chart   string `json:"chart,omitempty"`
	Version string `json:"version,omitempty"`
	// Error is the last error, in words a script author can act on; empty
	// when the last action succeeded.
	Error string `json:"error,omitempty"`
	// Warning notes something a script author may want to know about a
	// release that did deploy (a chart archive whose digest differs from
	// its repository index); empty when there is nothing to say.
	Warning string `json:"warning,omitempty"`
	// Time is when this part last changed, RFC 3339 in UTC.
	Time string `json:"time,omitempty"`
	// Readiness says whether the release's workloads are ready
	// (ReadinessReady, ReadinessNotReady, ReadinessFailed); empty when not
	// looked at (no release, or one not deployed).
	Readiness string `json:"readiness,omitempty"`
	// ReadinessReason says which object is not ready and why, at most
	// MaxReasonMessage bytes; empty when ready.
	ReadinessReason string `json:"readiness_reason,omitempty"`
	// Drift lists the objects of the current revision that someone else
	// deleted or changed (see DriftRecord), most recent last, at most
	// MaxDriftRecords; a new revision starts it again.
	Drift []DriftRecord `json:"drift,omitempty"`
}

// Readiness values of a release part.
const (
	ReadinessReady    = "ready"
	ReadinessNotReady = "not-ready"
	ReadinessFailed   = "failed"
)

// MaxDriftRecords bounds a release part's drift list: the state entry is
// read by every script that polls it.
const MaxDriftRecords = 8

// Drift changes.
const (
	DriftDeleted = "deleted"
	DriftChanged = "changed"
)

// DriftRecord is one object of a release found deleted or changed by
// someone other than the release-manager.
type DriftRecord struct {
	// Kind and Name name the object, in the release's namespace.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Change is DriftDeleted or DriftChanged.
	Change string `json:"change"`
	// Fields lists, for a change, the paths of the fields the release sets
	// that differ (at most a few).
	Fields []string `json:"fields,omitempty"`
	// Seen is when the drift was found, RFC 3339 in UTC.
	Seen string `json:"seen"`
	// Corrected is when the object was put back as the revision holds it;
	// empty while it is only reported (drift mode warn).
	Corrected string `json:"corrected,omitempty"`
}

// Equal reports whether two release parts say the same, their times
// included; an empty drift list and none are the same (both are absent
// once written).
func (r ReleaseStatus) Equal(o ReleaseStatus) bool {
	return r.scalars() == o.scalars() && slices.EqualFunc(r.Drift, o.Drift, DriftRecord.Equal)
}

// scalars is r without its drift list, which == cannot compare.
func (r ReleaseStatus) scalars() [10]string {
	return [10]string{r.Name, r.Status, strconv.Itoa(r.Revision), r.Chart, r.Version, r.Error, r.Warning, r.Time,
		r.Readiness, r.ReadinessReason}
}

// Equal reports whether two drift records say the same.
func (d DriftRecord) Equal(o DriftRecord) bool {
	return d.Kind == o.Kind && d.Name == o.Name && d.Change == o.Change && slices.Equal(d.Fields, o.Fields) &&
		d.Seen == o.Seen && d.Corrected == o.Corrected
}

// SetTime records t (UTC, second precision) as the time of the status.
func (r *ReleaseStatus) SetTime(t time.Time) { r.Time = t.UTC().Format(time.RFC3339) }

// DeploymentState is the state entry of a deployment, /deploy/<id>/state.
// Decoding keeps only the known parts; updates go through Store, which keeps
// everything else in the entry as it was.
type DeploymentState struct {
	Pods    map[string]PodStatus `json:"pods,omitempty"`
	Release *ReleaseStatus       `json:"release,omitempty"`
	// Reasons says why pods are not RUNNING or FINISHED (PartReasons).
	Reasons map[string]PodReason `json:"reasons,omitempty"`
}

// DecodeState reads a state entry. Parts of an unexpected shape are an error;
// unknown parts and fields are ignored.
func DecodeState(data []byte) (DeploymentState, error) {
	var st DeploymentState
	doc, err := decodeStateDoc(data)
	if err != nil {
		return st, err
	}
	if st.Pods, err = podsFromPart(doc[PartPods]); err != nil {
		return st, err
	}
	if st.Reasons, err = reasonsFromPart(doc[PartReasons]); err != nil {
		return st, err
	}
	if part, ok := doc[PartRelease]; ok && part != nil {
		rel, err := releaseFromPart(part)
		if err != nil {
			return st, err
		}
		st.Release = &rel
	}
	return st, nil
}

func decodeStateDoc(data []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return map[string]any{}, nil
	}
	v, err := decodeGeneric(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadState, err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: it is %s, not a JSON object", ErrBadState, jsonKind(v))
	}
	return doc, nil
}

func podsFromPart(part any) (map[string]PodStatus, error) {
	if part == nil {
		return nil, nil
	}
	m, ok := part.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %q is %s, not an object", ErrBadState, PartPods, jsonKind(part))
	}
	pods := make(map[string]PodStatus, len(m))
	for name, v := range m {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: pod %q has status %s, not a string", ErrBadState, name, jsonKind(v))
		}
		pods[name] = PodStatus(s)
	}
	return pods, nil
}

func releaseFromPart(part any) (ReleaseStatus, error) {
	var rel ReleaseStatus
	if _, ok := part.(map[string]any); !ok {
		return rel, fmt.Errorf("%w: %q is %s, not an object", ErrBadState, PartRelease, jsonKind(part))
	}
	raw, err := json.Marshal(part)
	if err != nil {
		return rel, fmt.Errorf("%w: %v", ErrBadState, err)
	}
	if err := json.Unmarshal(raw, &rel); err != nil {
		return rel, fmt.Errorf("%w: %q: %v", ErrBadState, PartRelease, err)
	}
	return rel, nil
}

// podsPart is the mutation of the "pods" part: the whole map is the
// pod-monitor's, so it is replaced. An empty map where there was no part is
// no change, so that no state entry is created only to say "no pods".
func podsPart(fn func(map[string]PodStatus) map[string]PodStatus) partMutation {
	return func(old any) (any, error) {
		cur, err := podsFromPart(old)
		if err != nil {
			return nil, err
		}
		if cur == nil {
			cur = map[string]PodStatus{}
		}
		next := fn(cur)
		if old == nil && len(next) == 0 {
			return nil, nil
		}
		m := make(map[string]any, len(next))
		for k, v := range next {
			m[k] = string(v)
		}
		return m, nil
	}
}

// releasePart is the mutation of the "release" part: the known fields are
// set from fn's result (and removed when empty); fields this version does not
// know are kept.
func releasePart(fn func(cur ReleaseStatus, exists bool) ReleaseStatus) partMutation {
	return func(old any) (any, error) {
		var cur ReleaseStatus
		exists := old != nil
		merged := map[string]any{}
		if exists {
			var err error
			if cur, err = releaseFromPart(old); err != nil {
				return nil, err
			}
			for k, v := range old.(map[string]any) {
				merged[k] = v
			}
		}
		next := fn(cur, exists)
		enc, err := toGeneric(next)
		if err != nil {
			return nil, err
		}
		for _, f := range releaseFields {
			delete(merged, f)
		}
		for k, v := range enc.(map[string]any) {
			merged[k] = v
		}
		if !exists && len(merged) == 0 {
			return nil, nil
		}
		return merged, nil
	}
}

// releaseFields are the JSON names of ReleaseStatus's fields.
var releaseFields = func() []string {
	var names []string
	t := reflect.TypeFor[ReleaseStatus]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}()

// partMutation computes the new value of one part from the old (nil when
// absent). Returning nil for an absent part means "leave it absent".
type partMutation func(old any) (any, error)

// applyPart applies mutate to doc's part and reports whether the entry
// changed in meaning.
func applyPart(doc map[string]any, part string, mutate partMutation) (bool, error) {
	old, had := doc[part]
	next, err := mutate(old)
	if err != nil {
		return false, err
	}
	if next == nil {
		return false, nil
	}
	if had && sameJSON(old, next) {
		return false, nil
	}
	doc[part] = next
	return true, nil
}

func sameJSON(a, b any) bool {
	ea, err1 := encodeValue(a)
	eb, err2 := encodeValue(b)
	return err1 == nil && err2 == nil && bytes.Equal(ea, eb)
}
