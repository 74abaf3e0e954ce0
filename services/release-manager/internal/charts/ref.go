package charts

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"unicode"

	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
)

// RefKind is where a chart reference points.
type RefKind int

const (
	// FromRepo: a chart in a chart repository, the default one or a named one.
	FromRepo RefKind = iota
	// FromOCI: an oci:// reference.
	FromOCI
	// FromLocal: a chart directory or archive on this machine.
	FromLocal
	// FromURL: an http(s):// URL of a chart archive.
	FromURL
)

func (k RefKind) String() string {
	switch k {
	case FromOCI:
		return "oci"
	case FromLocal:
		return "local"
	case FromURL:
		return "url"
	}
	return "repo"
}

// Ref is a parsed chart reference, read as the Helm CLI reads the chart
// argument of `helm install`, except that relative paths are never looked
// up on disk: a processing script's "foo/bar" means chart bar of
// repository foo, as it did for the Python deployer, whatever the
// release-manager's working directory holds.
type Ref struct {
	Kind RefKind
	// Repo names the repository of a FromRepo reference; empty for the
	// default repository (a name without '/').
	Repo string
	// Chart is the chart name (FromRepo), the absolute path (FromLocal),
	// the registry reference without oci:// (FromOCI) or the URL (FromURL).
	Chart string
}

var (
	// ErrBadRef: the chart field is not in any form a chart can be named
	// by. Permanent: only a change of the entry helps.
	ErrBadRef = permanent{errors.New("bad chart reference")}
	// ErrUnknownRepo: <repo>/<chart> names a repository that is not
	// configured. Permanent: only a change of the entry or of the settings
	// (which restarts the release-manager) helps.
	ErrUnknownRepo = permanent{errors.New("unknown chart repository")}
)

// permanent is a sentinel that also matches controller.ErrPermanent, so
// that the work queue does not retry an entry failing with it.
type permanent struct{ error }

func (p permanent) Is(target error) bool { return target == controller.ErrPermanent }

const refForms = "a chart is named <chart> (default repository), <repo>/<chart>, oci://<registry>/<path>, " +
	"http(s)://<archive URL>, or, for a chart on the release-manager's disk, an absolute path or file:///<absolute path>"

// ParseRef reads a chart reference. It does not check that a named
// repository exists: that is the Source's business.
func ParseRef(ref string) (Ref, error) {
	bad := func(why string) (Ref, error) {
		return Ref{}, fmt.Errorf("%w %q: %s; %s", ErrBadRef, ref, why, refForms)
	}
	if ref == "" {
		return bad("empty")
	}
	if strings.TrimSpace(ref) != ref {
		return bad("leading or trailing white space")
	}
	if i := strings.IndexFunc(ref, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }); i >= 0 {
		return bad("contains a control character or invalid UTF-8")
	}
	lower := strings.ToLower(ref)
	switch {
	case strings.HasPrefix(lower, "oci://"):
		rest := ref[len("oci://"):]
		if rest == "" || strings.HasPrefix(rest, "/") || !strings.Contains(rest, "/") || strings.ContainsAny(rest, " \t") {
			return bad("an OCI reference is oci://<registry>/<path>[:<tag>]")
		}
		return Ref{Kind: FromOCI, Chart: rest}, nil
	case strings.HasPrefix(lower, "file://"):
		u, err := url.Parse(ref)
		if err != nil || u.Host != "" && u.Host != "localhost" || !strings.HasPrefix(u.Path, "/") || u.RawQuery != "" || u.Fragment != "" {
			return bad("a local chart is file:///<absolute path> (three slashes: the path must be absolute)")
		}
		return local(ref, u.Path)
	case strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://"):
		u, err := url.Parse(ref)
		if err != nil || u.Host == "" || u.Path == "" || u.Path == "/" {
			return bad("a chart URL is http(s)://<host>/<path of a chart archive>")
		}
		return Ref{Kind: FromURL, Chart: ref}, nil
	case strings.Contains(ref, "://"):
		return bad("unsupported scheme")
	case strings.HasPrefix(ref, "/"):
		return local(ref, ref)
	case ref == "." || ref == ".." || strings.HasPrefix(ref, "./") || strings.HasPrefix(ref, "../") || strings.HasPrefix(ref, "~"):
		return bad("relative paths are not read (they would depend on the release-manager's working directory)")
	}
	repoName, name, named := strings.Cut(ref, "/")
	if !named {
		if err := checkName(ref); err != nil {
			return bad(err.Error())
		}
		return Ref{Kind: FromRepo, Chart: ref}, nil
	}
	if repoName == "" || name == "" {
		return bad("<repo>/<chart> needs both parts")
	}
	if strings.Contains(name, "/") {
		return bad("more than one '/' in a repository reference (a relative path? they are not read)")
	}
	if strings.ContainsAny(repoName, " \t=,") {
		return bad("the repository name contains white space, '=' or ','")
	}
	if err := checkName(name); err != nil {
		return bad(err.Error())
	}
	return Ref{Kind: FromRepo, Repo: repoName, Chart: name}, nil
}

func local(ref, p string) (Ref, error) {
	clean := path.Clean(p)
	if clean == "/" {
		return Ref{}, fmt.Errorf("%w %q: the root directory is no chart; %s", ErrBadRef, ref, refForms)
	}
	return Ref{Kind: FromLocal, Chart: clean}, nil
}

func checkName(name string) error {
	switch {
	case name == "." || name == "..":
		return fmt.Errorf("%q is no chart name", name)
	case strings.ContainsAny(name, " \t\\:@?#"):
		return fmt.Errorf("the chart name %q contains white space or one of \\:@?#", name)
	}
	return nil
}
