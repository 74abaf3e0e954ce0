package configdb

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Logical directories of the database. Each ends in '/', so that the tagged
// form of a directory is the key prefix of its children.
const (
	DeployDir   = "/deploy/"
	ResourceDir = "/resource/"
)

// stateLeaf is the name of a deployment's state entry below /deploy/<id>.
const stateLeaf = "state"

// ErrBadKey is returned for an etcd key that is not a depth-tagged path of the
// expected shape.
var ErrBadKey = errors.New("not a depth-tagged config DB key")

// Layout maps logical paths to etcd keys and back, with an optional global
// prefix. The zero value has no prefix.
type Layout struct {
	prefix string
}

// NewLayout returns a Layout for the global prefix, which must be empty or a
// path starting with '/' and not ending in '/' (for example "/test").
func NewLayout(prefix string) (Layout, error) {
	if prefix == "" {
		return Layout{}, nil
	}
	if !strings.HasPrefix(prefix, "/") || strings.HasSuffix(prefix, "/") {
		return Layout{}, fmt.Errorf("global prefix %q: must start with '/' and not end with '/'", prefix)
	}
	return Layout{prefix: prefix}, nil
}

// Prefix returns the global prefix ("" when there is none).
func (l Layout) Prefix() string { return l.prefix }

// Key returns the etcd key of a logical path: the number of '/' in the
// prefixed path, followed by the prefixed path. A directory path (ending in
// '/') gives the key prefix that lists exactly its children.
func (l Layout) Key(path string) string {
	full := l.prefix + path
	return strconv.Itoa(strings.Count(full, "/")) + full
}

// Path returns the logical path of an etcd key: the inverse of Key. It checks
// the depth tag and the global prefix, so a key from another prefix or a
// hand-written key with a wrong tag is refused rather than misread.
func (l Layout) Path(key string) (string, error) {
	slash := strings.IndexByte(key, '/')
	if slash <= 0 {
		return "", fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	depth, err := strconv.Atoi(key[:slash])
	if err != nil || depth < 0 || key[:slash] != strconv.Itoa(depth) {
		return "", fmt.Errorf("%w: %q has no numeric depth tag", ErrBadKey, key)
	}
	full := key[slash:]
	if n := strings.Count(full, "/"); n != depth {
		return "", fmt.Errorf("%w: %q is tagged depth %d but has %d '/'", ErrBadKey, key, depth, n)
	}
	if !strings.HasPrefix(full, l.prefix+"/") {
		return "", fmt.Errorf("%w: %q is outside the global prefix %q", ErrBadKey, key, l.prefix)
	}
	return full[len(l.prefix):], nil
}

// DeploymentPath is the logical path of a deployment entry.
func DeploymentPath(id string) string { return DeployDir + id }

// StatePath is the logical path of a deployment's state entry.
func StatePath(id string) string { return DeployDir + id + "/" + stateLeaf }

// DeploymentKey is the etcd key of a deployment entry.
func (l Layout) DeploymentKey(id string) string { return l.Key(DeploymentPath(id)) }

// StateKey is the etcd key of a deployment's state entry.
func (l Layout) StateKey(id string) string { return l.Key(StatePath(id)) }

// DeploymentsPrefix is the etcd key prefix under which every deployment entry
// (and nothing else) lives.
func (l Layout) DeploymentsPrefix() string { return l.Key(DeployDir) }

// StatesPrefix is the etcd key prefix of /deploy/<id>/<leaf> entries: the
// state entries, and any other per-deployment leaf another tool may write,
// which callers must tell apart with StateID.
func (l Layout) StatesPrefix() string {
	// The children of /deploy/<id>/ sit one level deeper than /deploy/<id>,
	// so their tag is one more than the directory's own.
	full := l.prefix + DeployDir
	return strconv.Itoa(strings.Count(full, "/")+1) + full
}

// ResourcesPrefix is the etcd key prefix of the entries directly under
// /resource/.
func (l Layout) ResourcesPrefix() string { return l.Key(ResourceDir) }

// DeploymentID returns the deployment id of a deployment entry's etcd key.
func (l Layout) DeploymentID(key string) (string, error) {
	p, err := l.Path(key)
	if err != nil {
		return "", err
	}
	id, ok := strings.CutPrefix(p, DeployDir)
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", fmt.Errorf("%w: %q is not a deployment entry", ErrBadKey, key)
	}
	return id, nil
}

// StateID returns the deployment id of a state entry's etcd key; ok is false
// for keys of other /deploy/<id>/<leaf> entries.
func (l Layout) StateID(key string) (id string, ok bool) {
	p, err := l.Path(key)
	if err != nil {
		return "", false
	}
	rest, found := strings.CutPrefix(p, DeployDir)
	if !found {
		return "", false
	}
	id, leaf, found := strings.Cut(rest, "/")
	if !found || id == "" || leaf != stateLeaf {
		return "", false
	}
	return id, true
}
