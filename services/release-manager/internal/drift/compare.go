// Comparing an object as a release's manifest holds it with the object as
// the cluster holds it, field by field, over the fields the manifest sets.

package drift

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxFields bounds the paths Diff returns: a state entry names a few, a
// log line the rest is not needed for.
const maxFields = 4

// Diff returns the paths of the fields want (an object of a release's
// manifest) sets to a value that live does not hold, sorted, at most
// maxFields, and how many differ in all. Only what the release sets is
// compared: a field absent from want (a default the API server filled in,
// status, what another controller added) never counts. Neither does a
// field that a controller owns now according to live's managed fields (an
// HorizontalPodAutoscaler's spec.replicas), nor metadata: labels and
// annotations are everyone's to add.
func Diff(want, live map[string]any, managed []metav1.ManagedFieldsEntry) (paths []string, n int) {
	d := differ{owned: controllerFields(managed)}
	want = normalize(want)
	for _, k := range sortedKeys(want) {
		if k == "apiVersion" || k == "kind" || k == "metadata" || k == "status" {
			continue
		}
		d.walk(k, want[k], live[k], d.child(d.owned, "f:"+k))
	}
	sort.Strings(d.paths)
	n = len(d.paths)
	if n > maxFields {
		d.paths = d.paths[:maxFields]
	}
	return d.paths, n
}

type differ struct {
	owned []map[string]any
	paths []string
}

// walk compares want with live at path; owned are the controllers' field
// sets at the same place.
func (d *differ) walk(path string, want, live any, owned []map[string]any) {
	if want == nil {
		return
	}
	if ownedHere(owned) {
		return
	}
	switch w := want.(type) {
	case map[string]any:
		if len(w) == 0 {
			return // an empty object is dropped or defaulted by the server
		}
		l, ok := live.(map[string]any)
		if !ok {
			d.paths = append(d.paths, path)
			return
		}
		for _, k := range sortedKeys(w) {
			d.walk(path+"."+k, w[k], l[k], d.child(owned, "f:"+k))
		}
	case []any:
		if len(w) == 0 {
			return
		}
		l, ok := live.([]any)
		if !ok {
			d.paths = append(d.paths, path)
			return
		}
		d.walkList(path, w, l, owned)
	default:
		if !sameScalar(want, live) {
			d.paths = append(d.paths, path)
		}
	}
}

// mergeKeys are the fields by which Kubernetes merges the lists charts set
// (containers, env, volumes, ports, volume mounts), tried in order: a list
// whose every element has one is matched by it, not by position, so that
// an element a webhook or controller inserts moves nothing.
var mergeKeys = []string{"name", "containerPort", "mountPath", "devicePath", "port", "ip"}

func (d *differ) walkList(path string, want, live []any, owned []map[string]any) {
	key := listKey(want)
	if key == "" {
		if len(live) != len(want) {
			d.paths = append(d.paths, path)
			return
		}
		for i := range want {
			d.walk(fmt.Sprintf("%s[%d]", path, i), want[i], live[i], nil)
		}
		return
	}
	byKey := map[string]any{}
	for _, e := range live {
		if m, ok := e.(map[string]any); ok {
			byKey[fmt.Sprint(scalar(m[key]))] = e
		}
	}
	for _, e := range want {
		v := fmt.Sprint(scalar(e.(map[string]any)[key]))
		p := fmt.Sprintf("%s[%s=%s]", path, key, v)
		l, ok := byKey[v]
		if !ok {
			d.paths = append(d.paths, p)
			continue
		}
		d.walk(p, e, l, d.childByKey(owned, key, v))
	}
}

func listKey(list []any) string {
	for _, k := range mergeKeys {
		all := true
		for _, e := range list {
			m, ok := e.(map[string]any)
			if !ok || m[k] == nil {
				all = false
				break
			}
		}
		if all {
			return k
		}
	}
	return ""
}

// sameScalar compares two leaf values as the API server would store them:
// numbers by value (YAML and JSON decode them differently), quantities by
// amount ("1000m" and "1"), and an int-or-string port by its text.
func sameScalar(want, live any) bool {
	w, l := scalar(want), scalar(live)
	if w == l {
		return true
	}
	ws, wok := w.(string)
	ls, lok := l.(string)
	if wok && lok {
		qw, err1 := resource.ParseQuantity(ws)
		ql, err2 := resource.ParseQuantity(ls)
		return err1 == nil && err2 == nil && qw.Cmp(ql) == 0
	}
	return fmt.Sprint(w) == fmt.Sprint(l)
}

// scalar brings numbers to one type.
func scalar(v any) any {
	switch n := v.(type) {
	case int64:
		return float64(n)
	case int:
		return float64(n)
	case int32:
		return float64(n)
	case json.Number:
		f, err := n.Float64()
		if err == nil {
			return f
		}
	}
	return v
}

// normalize turns a Secret's stringData into the data the API server
// stores it as, so that the two compare.
func normalize(obj map[string]any) map[string]any {
	sd, ok := obj["stringData"].(map[string]any)
	if !ok || obj["kind"] != "Secret" {
		return obj
	}
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		out[k] = v
	}
	data := map[string]any{}
	if d, ok := obj["data"].(map[string]any); ok {
		for k, v := range d {
			data[k] = v
		}
	}
	for k, v := range sd {
		data[k] = base64.StdEncoding.EncodeToString([]byte(fmt.Sprint(v)))
	}
	delete(out, "stringData")
	out["data"] = data
	return out
}

// controllerFields returns the field sets (managedFields' FieldsV1, decoded)
// of the managers that are controllers rather than people or deployers.
func controllerFields(managed []metav1.ManagedFieldsEntry) []map[string]any {
	var out []map[string]any
	for _, m := range managed {
		if !isController(m.Manager) || m.FieldsV1 == nil {
			continue
		}
		var set map[string]any
		if err := json.Unmarshal(m.FieldsV1.Raw, &set); err == nil {
			out = append(out, set)
		}
	}
	return out
}

// isController tells the managers that are Kubernetes' own controllers
// (the HorizontalPodAutoscaler writes replicas as kube-controller-manager)
// and cluster add-ons named after what they are (…-controller,
// …-operator, …-autoscaler) from the rest: kubectl, Helm, people's tools.
func isController(manager string) bool {
	m := strings.ToLower(manager)
	return m == "kube-controller-manager" || m == "kube-scheduler" ||
		strings.HasSuffix(m, "-controller") || strings.HasSuffix(m, "-operator") || strings.HasSuffix(m, "autoscaler")
}

// child descends one field into each controller's set.
func (d *differ) child(owned []map[string]any, key string) []map[string]any {
	var out []map[string]any
	for _, set := range owned {
		if c, ok := set[key].(map[string]any); ok {
			out = append(out, c)
		}
	}
	return out
}

// childByKey descends into the list element whose merge key has value v
// (FieldsV1 names it k:{"name":"x",...}).
func (d *differ) childByKey(owned []map[string]any, key, v string) []map[string]any {
	var out []map[string]any
	for _, set := range owned {
		for k, c := range set {
			if !strings.HasPrefix(k, "k:") {
				continue
			}
			var id map[string]any
			if json.Unmarshal([]byte(k[2:]), &id) != nil || fmt.Sprint(scalar(id[key])) != v {
				continue
			}
			if m, ok := c.(map[string]any); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

// ownedHere reports whether a controller owns the field itself (a leaf of
// its set: an empty object, or one with only ".").
func ownedHere(owned []map[string]any) bool {
	for _, set := range owned {
		if len(set) == 0 {
			return true
		}
		if _, ok := set["."]; ok && len(set) == 1 {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
