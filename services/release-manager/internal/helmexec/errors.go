// The errors the runner returns, and the one place where Helm's and the
// API server's errors are recognised: by type or sentinel where they have
// one, by text only where Helm gives nothing else.

package helmexec

import (
	"errors"
	"net"
	"strings"

	"helm.sh/helm/v3/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// ErrNotFound is returned by Last when a release has no revision.
var ErrNotFound = driver.ErrReleaseNotFound

// ErrNameInUse is returned by Install when the release name already has a
// revision that the caller did not know of (the release index lagged).
var ErrNameInUse = errors.New("release name in use")

// helmNameInUse is the text of Helm's own refusal: Helm returns it as an
// untyped error (action.Install's availableName), so this seam is the one
// place that recognises it by text and turns it into ErrNameInUse.
const helmNameInUse = "cannot re-use a name that is still in use"

// nameInUse reports whether an install failed because the name already
// has a revision: Helm's typed driver error when its storage create found
// one, its untyped refusal when the history read did.
func nameInUse(err error) bool {
	return errors.Is(err, driver.ErrReleaseExists) || strings.Contains(err.Error(), helmNameInUse)
}

// ErrUnreachable marks an action that failed because the Kubernetes API
// did not answer.
var ErrUnreachable = errors.New("kubernetes API unreachable")

// IsUnreachable reports whether err says the Kubernetes API was away
// (refused, timed out, unavailable, throttling) rather than anything
// about what was asked of it: such a failure is nobody's fault in the
// deployment entry and is retried for as long as it takes.
func IsUnreachable(err error) bool {
	var opErr *net.OpError
	return errors.Is(err, ErrUnreachable) || errors.As(err, &opErr) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) ||
		apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err)
}
