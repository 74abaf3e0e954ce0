package confine

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultKinds is what SDP processing charts need beyond their namespace:
// a receiver's output volume is a PersistentVolume.
const DefaultKinds = "PersistentVolume"

// Kinds are the cluster-scoped kinds an operator lets charts create.
type Kinds []schema.GroupKind

// kindName is how a kind is spelled in a manifest's kind field. A lower-case
// first letter is most often a resource name ("persistentvolumes") given by
// mistake, so it is refused rather than never matching.
var kindName = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)

// ParseKinds reads a comma-separated list of "Kind" (the core API group)
// or "Kind.group" entries, such as "PersistentVolume,
// StorageClass.storage.k8s.io". An empty list allows no cluster-scoped kind.
func ParseKinds(s string) (Kinds, error) {
	var ks Kinds
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		kind, group, _ := strings.Cut(entry, ".")
		if !kindName.MatchString(kind) {
			return nil, fmt.Errorf("cluster-scoped kind %q: want Kind or Kind.group with Kind as a manifest spells it (PersistentVolume, StorageClass.storage.k8s.io)", entry)
		}
		if group != "" {
			if errs := validation.IsDNS1123Subdomain(group); len(errs) > 0 {
				return nil, fmt.Errorf("cluster-scoped kind %q: API group %q: %s", entry, group, strings.Join(errs, "; "))
			}
		}
		gk := schema.GroupKind{Group: group, Kind: kind}
		if !slices.Contains(ks, gk) {
			ks = append(ks, gk)
		}
	}
	return ks, nil
}

// Allows reports whether charts may create objects of kind gk.
func (ks Kinds) Allows(gk schema.GroupKind) bool { return slices.Contains(ks, gk) }

// String lists the kinds as ParseKinds reads them.
func (ks Kinds) String() string {
	s := make([]string, len(ks))
	for i, gk := range ks {
		s[i] = gk.String()
	}
	return strings.Join(s, ",")
}
