package nadcache

import (
	"reflect"
	"sort"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"
)

func obj(ns, name string, labels map[string]string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.cni.cncf.io/v1",
		"kind":       "NetworkAttachmentDefinition",
		"metadata": map[string]any{
			"name": name, "namespace": ns, "resourceVersion": "7", "uid": "u-1",
			"annotations":   map[string]any{"k8s.v1.cni.cncf.io/resourceName": "x"},
			"managedFields": []any{map[string]any{"manager": "kubectl"}},
		},
	}}
	if spec != nil {
		u.Object["spec"] = spec
	}
	u.SetLabels(labels)
	return u
}

func TestTrimAndFromObject(t *testing.T) {
	labels := map[string]string{LabelAvailable: "true", LabelSupernet: "sn", "team": "x"}
	tests := []struct {
		name string
		in   *unstructured.Unstructured
		want NAD
	}{
		{"config and supernet", obj("sdp", "a", labels, map[string]any{"config": `{"type":"macvlan"}`}),
			NAD{Namespace: "sdp", Name: "a", ResourceVersion: "7", Supernet: "sn", Available: "true", Config: `{"type":"macvlan"}`, HasConfig: true}},
		{"no supernet label", obj("sdp", "b", map[string]string{LabelAvailable: "true"}, map[string]any{"config": "{}"}),
			NAD{Namespace: "sdp", Name: "b", ResourceVersion: "7", Available: "true", Config: "{}", HasConfig: true}},
		{"no spec", obj("sdp", "c", labels, nil),
			NAD{Namespace: "sdp", Name: "c", ResourceVersion: "7", Supernet: "sn", Available: "true"}},
		{"config not a string", obj("sdp", "d", labels, map[string]any{"config": map[string]any{"type": "macvlan"}}),
			NAD{Namespace: "sdp", Name: "d", ResourceVersion: "7", Supernet: "sn", Available: "true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Trim(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			u := out.(*unstructured.Unstructured)
			if u.GetAnnotations() != nil || u.GetManagedFields() != nil {
				t.Errorf("annotations or managed fields kept: %v", u.Object["metadata"])
			}
			if _, ok := u.GetLabels()["team"]; ok {
				t.Errorf("label not read by the service kept: %v", u.GetLabels())
			}
			// Read back from the trimmed object: what an entry needs survived.
			for _, o := range []any{u, cache.DeletedFinalStateUnknown{Key: "x", Obj: u}} {
				got, ok := FromObject(o)
				if !ok || got != tt.want {
					t.Errorf("FromObject(%T) = %+v, %v; want %+v", o, got, ok, tt.want)
				}
			}
		})
	}
	if _, ok := FromObject("not an object"); ok {
		t.Error("FromObject accepted a string")
	}
	if out, err := Trim("tombstone-like"); err != nil || out != "tombstone-like" {
		t.Errorf("Trim changed a non-object: %v, %v", out, err)
	}
}

// List keeps only labelled NADs even if the cache holds others (the API
// server filters by the selector; this is the second line).
func TestListOnlyLabelled(t *testing.T) {
	inf := cache.NewSharedIndexInformer(&cache.ListWatch{}, &unstructured.Unstructured{}, 0, cache.Indexers{})
	c := &Cache{informer: inf}
	for _, o := range []*unstructured.Unstructured{
		obj("a", "yes", map[string]string{LabelAvailable: "true"}, map[string]any{"config": "{}"}),
		obj("b", "false", map[string]string{LabelAvailable: "false"}, map[string]any{"config": "{}"}),
		obj("b", "none", nil, map[string]any{"config": "{}"}),
		obj("b", "yes", map[string]string{LabelAvailable: "true", LabelSupernet: "s"}, nil),
		obj("c", "caps", map[string]string{LabelAvailable: "True"}, map[string]any{"config": "{}"}),
		obj("c", "word", map[string]string{LabelAvailable: "yes"}, map[string]any{"config": "{}"}),
		obj("c", "empty", map[string]string{LabelAvailable: ""}, map[string]any{"config": "{}"}),
	} {
		if err := inf.GetStore().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	for _, n := range c.List() {
		keys = append(keys, n.Key())
	}
	sort.Strings(keys)
	if want := []string{"a/yes", "b/yes"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("List = %v, want %v", keys, want)
	}
	// Labelled, but not "true" (nor "false", which says no on purpose).
	var not []string
	for _, n := range c.NotSelected() {
		not = append(not, n.Key()+"="+n.Available)
	}
	sort.Strings(not)
	if want := []string{"c/caps=True", "c/empty=", "c/word=yes"}; !reflect.DeepEqual(not, want) {
		t.Errorf("NotSelected = %v, want %v", not, want)
	}
}

func TestNotSelectedReason(t *testing.T) {
	for v, want := range map[string]string{"True": `label value "True" is not "true"`, "yes": `label value "yes" is not "true"`} {
		if got := NotSelectedReason(v); got != want {
			t.Errorf("NotSelectedReason(%q) = %q, want %q", v, got, want)
		}
	}
	if !IsSelected("true") || IsSelected("True") || IsSelected("1") {
		t.Error("only \"true\" selects")
	}
}
