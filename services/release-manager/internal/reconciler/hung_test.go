package reconciler

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/helmexec"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/hungserver"
)

// An API server that accepts connections and never answers does not hold
// the worker: the Helm action fails after the request timeout with an error
// that says so, in the state entry, and the one worker goes on to the next
// deployment.
func TestHungAPIServerFreesTheWorker(t *testing.T) {
	srv := etcdtest.Start(t)
	h := newHarness(t, srv, nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := &rest.Config{Host: "http://" + hungserver.Start(t), Timeout: 300 * time.Millisecond}
	runner, err := helmexec.New(cfg, ns, log)
	if err != nil {
		t.Fatal(err)
	}
	h.rec.cfg.Helm = runner
	h.rec.cfg.Options.Workers = 1
	h.put("first", entryJSON("first", "cm", `{"replicas": 1}`))
	h.put("second", entryJSON("second", "cm", `{"replicas": 1}`))
	start := time.Now()
	h.start()
	for _, id := range []string{"first", "second"} {
		st := h.waitState(id, func(st configdb.DeploymentState, found bool) bool {
			return found && st.Release != nil && st.Release.Error != ""
		})
		// Which request ran out first varies (Helm's reachability check,
		// a discovery call); each says the API is unreachable and names
		// the timeout it was given.
		if e := st.Release.Error; !strings.Contains(e, helmexec.ErrUnreachable.Error()) || !strings.Contains(e, "timeout=300ms") {
			t.Errorf("%s: state error %q does not say the API server did not answer in time", id, e)
		}
	}
	t.Logf("both deployments failed with the API server's timeout within %v", time.Since(start))
	if _, away := waitsOn(errTimeoutOf(t, runner)); !away {
		t.Error("a request timeout is not taken for the API away: it would use up the attempt budget")
	}
}

// errTimeoutOf is the error of a live read from the hung server.
func errTimeoutOf(t *testing.T, r *helmexec.Runner) error {
	t.Helper()
	_, err := r.Last("sdp-first")
	if err == nil {
		t.Fatal("a read from a hung API server succeeded")
	}
	return err
}
