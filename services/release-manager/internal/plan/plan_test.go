package plan

import (
	"encoding/json"
	"errors"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

func TestDecide(t *testing.T) {
	want := Desired{Present: true, Digest: "d1"}
	gone := Desired{}
	bad := Desired{Err: errors.New("bad entry")}
	owned := func(s release.Status, digest string) Observed {
		return Observed{Exists: true, Owned: true, Status: s, Revision: 1, Digest: digest}
	}
	foreign := Observed{Exists: true, Owned: false, Status: release.StatusDeployed}
	tests := []struct {
		name string
		d    Desired
		o    Observed
		want Action
	}{
		{"new entry", want, Observed{}, Install},
		{"in sync", want, owned(release.StatusDeployed, "d1"), None},
		{"entry changed", want, owned(release.StatusDeployed, "d0"), Upgrade},
		{"deployed before digests", want, owned(release.StatusDeployed, ""), Upgrade},
		{"failed install or upgrade", want, owned(release.StatusFailed, "d1"), Upgrade},
		{"failed, entry changed", want, owned(release.StatusFailed, "d0"), Upgrade},
		{"stuck pending-install", want, owned(release.StatusPendingInstall, "d1"), Unlock},
		{"stuck pending-upgrade", want, owned(release.StatusPendingUpgrade, "d1"), Unlock},
		{"stuck pending-rollback", want, owned(release.StatusPendingRollback, "d1"), Unlock},
		{"stuck uninstalling, entry back", want, owned(release.StatusUninstalling, "d1"), Uninstall},
		{"uninstalled kept in history", want, owned(release.StatusUninstalled, "d1"), Install},
		{"superseded as latest", want, owned(release.StatusSuperseded, "d1"), Upgrade},
		{"unknown status", want, owned(release.StatusUnknown, "d1"), Upgrade},
		{"entry gone", gone, owned(release.StatusDeployed, "d1"), Uninstall},
		{"entry gone, release failed", gone, owned(release.StatusFailed, "d1"), Uninstall},
		{"entry gone, release pending", gone, owned(release.StatusPendingInstall, "d1"), Uninstall},
		{"entry gone, no release", gone, Observed{}, None},
		{"entry gone, unowned release kept", gone, foreign, None},
		{"entry gone, unowned release uninstalled by setting", Desired{UninstallUnowned: true}, foreign, Uninstall},
		{"entry gone, no release, setting on", Desired{UninstallUnowned: true}, Observed{}, None},
		{"unowned release holds the entry's name", want, foreign, Adopt},
		{"unowned pending release holds the entry's name", want, Observed{Exists: true, Status: release.StatusPendingInstall}, Adopt},
		{"bad entry, unowned release left", bad, foreign, ReportError},
		{"bad entry, no release", bad, Observed{}, ReportError},
		{"bad entry keeps its release", bad, owned(release.StatusDeployed, "d1"), ReportError},
	}
	for _, tt := range tests {
		if got := Decide(tt.d, tt.o); got != tt.want {
			t.Errorf("%s: Decide = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestDigest(t *testing.T) {
	base := configdb.Deployment{ID: "a", Kind: "helm", Chart: "c", Values: map[string]any{"x": json.Number("1"), "y": map[string]any{"z": "w"}}}
	same := configdb.Deployment{ID: "b", Kind: "helm", Chart: "c", Values: map[string]any{"y": map[string]any{"z": "w"}, "x": json.Number("1")}}
	if Digest(base) != Digest(same) {
		t.Error("digest depends on the id or key order")
	}
	if len(Digest(base)) != 48 {
		t.Errorf("digest length %d", len(Digest(base)))
	}
	for name, d := range map[string]configdb.Deployment{
		"chart":       {Chart: "other", Values: base.Values},
		"version":     {Chart: "c", Version: "1.0.0", Values: base.Values},
		"values":      {Chart: "c", Values: map[string]any{"x": json.Number("2"), "y": map[string]any{"z": "w"}}},
		"number text": {Chart: "c", Values: map[string]any{"x": json.Number("1.0"), "y": map[string]any{"z": "w"}}},
	} {
		if Digest(d) == Digest(base) {
			t.Errorf("digest ignores a change of %s", name)
		}
	}
	if Digest(configdb.Deployment{Chart: "c"}) != Digest(configdb.Deployment{Chart: "c", Values: map[string]any{}}) {
		t.Error("no values and empty values differ")
	}
}

func TestObservedFrom(t *testing.T) {
	if o := ObservedFrom(nil); o.Exists {
		t.Error("nil release exists")
	}
	rel := &release.Release{Name: "r", Version: 3, Info: &release.Info{Status: release.StatusDeployed}, Labels: Labels("abc")}
	o := ObservedFrom(rel)
	if !o.Exists || !o.Owned || o.Digest != "abc" || o.Revision != 3 || o.Status != release.StatusDeployed {
		t.Errorf("got %+v", o)
	}
	rel.Labels = nil
	if ObservedFrom(rel).Owned {
		t.Error("unlabelled release owned")
	}
}

func TestSameContent(t *testing.T) {
	rel := func(name, version string, config map[string]any) *release.Release {
		return &release.Release{Chart: &chart.Chart{Metadata: &chart.Metadata{Name: name, Version: version}}, Config: config}
	}
	// As Helm stores values read from a YAML file: numbers decode as float64.
	fromYAML := map[string]any{"replicas": float64(2), "receiver": map[string]any{"port": float64(9000), "host": "x"}}
	entry := map[string]any{"replicas": int64(2), "receiver": map[string]any{"port": int64(9000), "host": "x"}}
	tests := []struct {
		name           string
		rel            *release.Release
		chart, version string
		values         map[string]any
		want           bool
	}{
		{"same chart and values, entry names no version", rel("demo", "0.1.0", fromYAML), "demo", "", entry, true},
		{"same chart, version and values", rel("demo", "0.1.0", fromYAML), "demo", "0.1.0", entry, true},
		{"no values either side", rel("demo", "0.1.0", nil), "demo", "", map[string]any{}, true},
		{"other version named", rel("demo", "0.1.0", fromYAML), "demo", "0.2.0", entry, false},
		{"other chart", rel("other", "0.1.0", fromYAML), "demo", "", entry, false},
		{"a value changed", rel("demo", "0.1.0", fromYAML), "demo", "", map[string]any{"replicas": int64(3), "receiver": entry["receiver"]}, false},
		{"a value added", rel("demo", "0.1.0", fromYAML), "demo", "", map[string]any{"replicas": int64(2), "receiver": entry["receiver"], "extra": true}, false},
		{"values only in the release", rel("demo", "0.1.0", fromYAML), "demo", "", nil, false},
		{"no chart stored", &release.Release{}, "demo", "", nil, false},
		{"no release", nil, "demo", "", nil, false},
	}
	for _, tt := range tests {
		if got := SameContent(tt.rel, tt.chart, tt.version, tt.values); got != tt.want {
			t.Errorf("%s: SameContent = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAdoptLabels(t *testing.T) {
	if o := ObservedFrom(&release.Release{Info: &release.Info{Status: release.StatusDeployed}, Labels: AdoptLabels("d1", true)}); !o.Owned || Decide(Desired{Present: true, Digest: "d1"}, o) != None {
		t.Errorf("adopted unchanged release: %+v, then %s", o, Decide(Desired{Present: true, Digest: "d1"}, o))
	}
	if o := ObservedFrom(&release.Release{Info: &release.Info{Status: release.StatusDeployed}, Labels: AdoptLabels("d1", false)}); !o.Owned || Decide(Desired{Present: true, Digest: "d1"}, o) != Upgrade {
		t.Errorf("adopted changed release: %+v, then %s", o, Decide(Desired{Present: true, Digest: "d1"}, o))
	}
}
