package chartcheck

import (
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// helmVerbs are what Helm needs to install, upgrade and uninstall objects.
var helmVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}

// The release-manager's allowed cluster-scoped kinds: the setting it reads
// (SDP_ALLOWED_CLUSTER_KINDS) and the ClusterRole granting exactly those
// kinds, from one values list.
func TestAllowedClusterKinds(t *testing.T) {
	type rule struct{ group, resource string }
	cases := []struct {
		name  string
		set   []string
		env   string
		rules []rule // nil: no ClusterRole of the release-manager
	}{
		{"default", nil, "PersistentVolume", []rule{{"", "persistentvolumes"}}},
		{"known table", []string{"allowedClusterKinds={PersistentVolume,StorageClass}"}, "PersistentVolume,StorageClass.storage.k8s.io",
			[]rule{{"", "persistentvolumes"}, {"storage.k8s.io", "storageclasses"}}},
		{"given with group and resource", []string{"allowedClusterKinds[0].kind=VolumeSnapshotClass", "allowedClusterKinds[0].group=snapshot.storage.k8s.io",
			"allowedClusterKinds[0].resource=volumesnapshotclasses"}, "VolumeSnapshotClass.snapshot.storage.k8s.io", []rule{{"snapshot.storage.k8s.io", "volumesnapshotclasses"}}},
		{"none", []string{"allowedClusterKinds=null"}, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := render(t, "release-manager", Options{Release: "rm", Set: c.set})
			d := o.deployments["release-manager"]
			if d == nil {
				t.Fatal("no release-manager Deployment")
			}
			env, ok := envOf(d.Spec.Template.Spec.Containers[0])["SDP_ALLOWED_CLUSTER_KINDS"]
			if !ok || env.Value != c.env {
				t.Errorf("SDP_ALLOWED_CLUSTER_KINDS = %q (set %v), want %q", env.Value, ok, c.env)
			}
			var got []rule
			var role *rbacv1.ClusterRole
			for _, cr := range o.clusterRoles {
				role = cr
				for _, r := range cr.Rules {
					if !slices.Equal(r.Verbs, helmVerbs) || len(r.APIGroups) != 1 || len(r.Resources) != 1 {
						t.Errorf("rule %+v, want one group, one resource and the verbs %v", r, helmVerbs)
						continue
					}
					got = append(got, rule{r.APIGroups[0], r.Resources[0]})
				}
			}
			if !slices.Equal(got, c.rules) {
				t.Errorf("ClusterRole rules %v, want %v", got, c.rules)
			}
			var bound bool
			for _, b := range o.clusterBindings {
				bound = bound || role != nil && b.RoleRef.Name == role.Name && len(b.Subjects) == 1 && o.serviceAccounts[b.Subjects[0].Name] != nil
			}
			if bound != (c.rules != nil) || len(o.clusterBindings) != len(o.clusterRoles) {
				t.Errorf("%d ClusterRoleBindings for %d ClusterRoles (bound to the service account: %v)", len(o.clusterBindings), len(o.clusterRoles), bound)
			}
		})
	}
	for _, c := range []struct{ set, want string }{
		{"allowedClusterKinds={Widget}", "allowedClusterKinds"},
		{"allowedClusterKinds[0].kind=Widget", "resource"},
		{"allowedClusterKinds[0].kind=persistentvolumes,allowedClusterKinds[0].resource=persistentvolumes", "kind"},
	} {
		_, err := Render(chartDir("release-manager"), Options{Set: []string{c.set}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--set %s: %v, want an error naming %q", c.set, err, c.want)
		}
	}
}

// TestReleaseManagerSettings: the release-manager chart's settings become
// their environment variables, set only when asked for where the default
// is the service's own: by default releases the Python deployer left
// behind are kept, deleted objects of releases made again and changed ones
// reported.
func TestReleaseManagerSettings(t *testing.T) {
	for _, c := range []struct {
		name string
		set  []string
		env  string
		want string // "" for no variable
	}{
		{"unowned kept by default", nil, "SDP_UNINSTALL_UNOWNED", ""},
		{"unowned uninstalled when asked", []string{"uninstallUnowned=true"}, "SDP_UNINSTALL_UNOWNED", "true"},
		{"unowned false", []string{"uninstallUnowned=false"}, "SDP_UNINSTALL_UNOWNED", ""},
		{"drift corrected by default", nil, "SDP_DRIFT_MODE", "correct"},
		{"drift warned", []string{"drift.mode=warn"}, "SDP_DRIFT_MODE", "warn"},
		{"drift off", []string{"drift.mode=off"}, "SDP_DRIFT_MODE", "off"},
		{"changed objects reported by default", nil, "SDP_DRIFT_CORRECT_CHANGED", ""},
		{"changed objects corrected when asked", []string{"drift.correctChanged=true"}, "SDP_DRIFT_CORRECT_CHANGED", "true"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := render(t, "release-manager", Options{Release: "rm", Set: c.set})
			d := o.deployments["release-manager"]
			if d == nil {
				t.Fatal("no release-manager Deployment")
			}
			env, ok := envOf(d.Spec.Template.Spec.Containers[0])[c.env]
			if ok != (c.want != "") || env.Value != c.want {
				t.Errorf("%s = %q (set %v), want %q", c.env, env.Value, ok, c.want)
			}
		})
	}
}
