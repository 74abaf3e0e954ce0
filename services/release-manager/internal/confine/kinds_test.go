package confine

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestParseKinds(t *testing.T) {
	pv := schema.GroupKind{Kind: "PersistentVolume"}
	sc := schema.GroupKind{Group: "storage.k8s.io", Kind: "StorageClass"}
	tests := []struct {
		in   string
		want Kinds
		err  string
	}{
		{in: DefaultKinds, want: Kinds{pv}},
		{in: "", want: nil},
		{in: " , ", want: nil},
		{in: "PersistentVolume, StorageClass.storage.k8s.io,PersistentVolume", want: Kinds{pv, sc}},
		{in: "persistentvolumes", err: `"persistentvolumes": want Kind or Kind.group`},
		{in: "Persistent Volume", err: `"Persistent Volume"`},
		{in: "StorageClass.Storage_K8s", err: `API group "Storage_K8s"`},
		{in: "StorageClass.", want: Kinds{{Kind: "StorageClass"}}},
		{in: ".storage.k8s.io", err: "want Kind or Kind.group"},
	}
	for _, tt := range tests {
		got, err := ParseKinds(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseKinds(%q) = %v, %v; want an error saying %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseKinds(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	ks := Kinds{pv, sc}
	if !ks.Allows(sc) || ks.Allows(schema.GroupKind{Kind: "StorageClass"}) || ks.Allows(schema.GroupKind{Group: "x.io", Kind: "PersistentVolume"}) {
		t.Error("Allows matches a kind by its name alone; want kind and group")
	}
	if s := ks.String(); s != "PersistentVolume,StorageClass.storage.k8s.io" {
		t.Errorf("String() = %q", s)
	}
}

// The setting comes from the environment: any text gives kinds or an
// error, and what it gives reads back the same.
func FuzzParseKinds(f *testing.F) {
	for _, s := range []string{DefaultKinds, "PersistentVolume,StorageClass.storage.k8s.io", "a.b", ",,", "X.-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ks, err := ParseKinds(s)
		if err != nil {
			return
		}
		again, err := ParseKinds(ks.String())
		if err != nil || !slices.Equal(again, ks) {
			t.Errorf("ParseKinds(%q) = %v, which reads back as %v, %v", s, ks, again, err)
		}
	})
}
