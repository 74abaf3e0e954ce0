// Package plan decides, from a deployment entry and the release Helm has
// stored for it, which single action brings them together. It knows nothing
// of clients: the reconciler observes, asks Decide, acts, and asks again
// until the answer is None, so each step is small and table-tested.
//
// The reconciler asks it at each step: docs/architecture.md, §4. From an entry to a release and a state, step 3.
package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"

	"helm.sh/helm/v3/pkg/release"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// Labels the release-manager puts on its releases (on Helm's storage
// Secrets). The first marks ownership: a release without it is adopted when
// its name is that of a helm entry (the Python deployer installed releases
// without labels), and otherwise left alone unless the operator asks for
// unowned releases to be uninstalled. The second records what was deployed, so
// that a change is seen without reading the release's values, and a
// restart upgrades nothing.
const (
	LabelManagedBy = "sdp.skao.int/managed-by"
	ManagedByValue = "sdp-helm-deployer"
	LabelDigest    = "sdp.skao.int/deployment-digest"
)

// Desired is what the config DB asks for.
type Desired struct {
	// Present is true when a helm deployment entry exists and is usable.
	Present bool
	// Err is set when an entry exists but cannot be deployed (bad JSON, bad
	// id, a name Helm refuses, a chart that cannot be loaded).
	Err error
	// Digest identifies chart, version and values (see Digest).
	Digest string
	// UninstallUnowned: with no entry, a release without the ownership
	// label is uninstalled too, as the Python deployer did (the
	// --uninstall-unowned setting). By default it is kept and reported.
	UninstallUnowned bool
}

// Observed is the latest revision Helm has stored for the release name.
type Observed struct {
	Exists   bool
	Owned    bool
	Status   release.Status
	Revision int
	Digest   string
}

// ObservedFrom reads the plan's view of a stored release (nil: none).
func ObservedFrom(rel *release.Release) Observed {
	if rel == nil {
		return Observed{}
	}
	o := Observed{Exists: true, Revision: rel.Version}
	if rel.Info != nil {
		o.Status = rel.Info.Status
	}
	o.Owned = rel.Labels[LabelManagedBy] == ManagedByValue
	o.Digest = rel.Labels[LabelDigest]
	return o
}

// Action is one step towards the desired state.
type Action string

// The actions, one per state of the (desired, observed) pair.
const (
	// None: in sync, or nothing this deployer may do.
	None Action = "none"
	// Install a release that does not exist.
	Install Action = "install"
	// Upgrade a release whose entry changed, or whose last attempt failed.
	Upgrade Action = "upgrade"
	// Uninstall a release whose entry is gone, or finish a stuck uninstall.
	Uninstall Action = "uninstall"
	// Unlock a revision left pending by a crash: mark it failed, so that an
	// upgrade may follow.
	Unlock Action = "unlock"
	// ReportError: the entry cannot be deployed; say why in its state and
	// leave any existing release as it is.
	ReportError Action = "report-error"
	// Adopt a release without the ownership label whose name is the
	// entry's release name (one the Python deployer installed): label it
	// ours. It is then upgraded only if its chart, version or values differ
	// from the entry's (see SameContent).
	Adopt Action = "adopt"
)

// Decide names the next action. It assumes the caller serialises the
// actions of one release, so a pending revision it sees was left by a
// process that is gone.
func Decide(d Desired, o Observed) Action {
	switch {
	case d.Err != nil:
		return ReportError
	case !d.Present:
		if o.Exists && (o.Owned || d.UninstallUnowned) {
			return Uninstall
		}
		return None
	case o.Exists && !o.Owned:
		return Adopt
	case !o.Exists:
		return Install
	}
	switch o.Status {
	case release.StatusPendingInstall, release.StatusPendingUpgrade, release.StatusPendingRollback:
		return Unlock
	case release.StatusUninstalling:
		return Uninstall
	case release.StatusUninstalled:
		return Install
	case release.StatusDeployed:
		if o.Digest == d.Digest {
			return None
		}
		return Upgrade
	}
	// Failed, superseded as latest, unknown: an upgrade from it is how Helm
	// moves on.
	return Upgrade
}

// Digest identifies what a deployment entry asks for: chart, version and
// values, in canonical JSON (sorted keys). It fits a label value (48 hex
// digits of SHA-256, 192 bits).
func Digest(d configdb.Deployment) string {
	values := d.Values
	if values == nil {
		values = map[string]any{}
	}
	// encoding/json sorts map keys and json.Number keeps number text, so
	// the same entry always gives the same bytes.
	b, err := json.Marshal(struct {
		Chart   string         `json:"chart"`
		Version string         `json:"version"`
		Values  map[string]any `json:"values"`
	}{d.Chart, d.Version, values})
	if err != nil {
		// Values come from decoded JSON, so they always marshal; a digest
		// of the error still changes when the entry does.
		b = []byte(fmt.Sprintf("unmarshalable:%v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:24])
}

// Labels are the release labels for a deployment.
func Labels(digest string) map[string]string {
	return map[string]string{LabelManagedBy: ManagedByValue, LabelDigest: digest}
}

// SameContent reports whether a stored release holds what an entry asks
// for: the chart of that name, the entry's chart version when it names one
// (an entry without a version accepts the version installed), and the same
// values. Values are compared as JSON, the form Helm stores them in, so an
// integer and the same number read from YAML as a float are equal. An
// adopted release whose content is the same needs no upgrade, so its pods
// are not restarted.
func SameContent(rel *release.Release, chartName, chartVersion string, values map[string]any) bool {
	if rel == nil || rel.Chart == nil || rel.Chart.Metadata == nil {
		return false
	}
	md := rel.Chart.Metadata
	if md.Name != chartName || chartVersion != "" && md.Version != chartVersion {
		return false
	}
	stored, err1 := normalJSON(rel.Config)
	wanted, err2 := normalJSON(values)
	return err1 == nil && err2 == nil && reflect.DeepEqual(stored, wanted)
}

// normalJSON is v as encoding/json decodes it, with no values and empty
// values the same.
func normalJSON(v map[string]any) (any, error) {
	if len(v) == 0 {
		return map[string]any{}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}

// AdoptLabels are the labels that make an unlabelled release ours: with
// the entry's digest when it already holds the entry's content, so nothing
// follows; without a digest otherwise, so that the next decision is an
// upgrade.
func AdoptLabels(digest string, same bool) map[string]string {
	if same {
		return Labels(digest)
	}
	return map[string]string{LabelManagedBy: ManagedByValue}
}
