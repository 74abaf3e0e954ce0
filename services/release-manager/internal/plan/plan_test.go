package plan

import (
	"encoding/json"
	"errors"
	"testing"

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
		{"entry gone, foreign release", gone, foreign, None},
		{"foreign release holds the name", want, foreign, RefuseForeign},
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
