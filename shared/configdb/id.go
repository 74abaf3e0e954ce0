package configdb

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// MaxReleaseNameLen is Helm's limit on release names: release names become
// label values and Secret names with suffixes, which is why Helm stops at 53
// rather than the 63 of a DNS-1123 label.
const MaxReleaseNameLen = 53

// MaxIDLen is the longest deployment id that SDP clients accept.
const MaxIDLen = 96

var idPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,96}$`)

var (
	// ErrInvalidID marks a deployment id that SDP clients would refuse.
	ErrInvalidID = errors.New("invalid deployment id")
	// ErrInvalidReleaseName marks a deployment whose id (with the prefix)
	// cannot be a Helm release name.
	ErrInvalidReleaseName = errors.New("invalid release name")
)

// ValidateID checks a deployment id against the pattern SDP clients use,
// ^[A-Za-z0-9-]{1,96}$, and says which rule it breaks.
func ValidateID(id string) error {
	if idPattern.MatchString(id) {
		return nil
	}
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalidID)
	case len(id) > MaxIDLen:
		return fmt.Errorf("%w: %q is %d characters, at most %d are allowed", ErrInvalidID, truncate(id, 40), len(id), MaxIDLen)
	default:
		return fmt.Errorf("%w: %q may hold only letters, digits and '-'", ErrInvalidID, id)
	}
}

// ReleaseName derives the Helm release name of a deployment:
// "<prefix>-<id>", or the id alone when the prefix is empty. The result must
// be a DNS-1123 label of at most 53 characters; the error says why not, so
// that it can be shown in the deployment's state entry.
func ReleaseName(prefix, id string) (string, error) {
	if err := ValidateID(id); err != nil {
		return "", err
	}
	name := id
	if prefix != "" {
		name = prefix + "-" + id
	}
	if len(name) > MaxReleaseNameLen {
		return "", fmt.Errorf("%w: %q is %d characters, Helm allows at most %d (deployment id %d, prefix %q)",
			ErrInvalidReleaseName, name, len(name), MaxReleaseNameLen, len(id), prefix)
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return "", fmt.Errorf("%w: %q: %s", ErrInvalidReleaseName, name, strings.Join(errs, "; "))
	}
	return name, nil
}

// IDFromReleaseName is the inverse of ReleaseName: the deployment id of a
// release name, and false when the name does not carry the prefix or what is
// left is not a valid id (such a release belongs to somebody else).
func IDFromReleaseName(prefix, name string) (string, bool) {
	id := name
	if prefix != "" {
		var found bool
		id, found = strings.CutPrefix(name, prefix+"-")
		if !found {
			return "", false
		}
	}
	if ValidateID(id) != nil {
		return "", false
	}
	return id, true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
