//go:build linux

package node

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/tests/e2e"
)

// ReportEnv names the file the suite writes its figures to (make e2e-node:
// docs/e2e-node.md).
const ReportEnv = "SDP_NODE_REPORT"

// Report collects how long each step of a run took, in order.
type Report struct {
	mu   sync.Mutex
	rows [][2]string
}

// Add records a step.
func (r *Report) Add(step string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, [2]string{step, d.Round(time.Millisecond).String()})
}

// Markdown is the report as docs/e2e-node.md holds it.
func (r *Report) Markdown(date time.Time, commit string, total time.Duration) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Real-node run\n\n")
	p("Written by `make e2e-node` (`tests/node`, `SDP_NODE_REPORT=docs/e2e-node.md`) from the run itself; ")
	p("figures vary between runs and with what else the machine is doing. What the run does and proves: ")
	p("`tests/node/doc.go`; the nodes: docs/architecture.md §7.\n\n")
	p("- Date: %s\n", date.UTC().Format(time.RFC3339))
	p("- Commit: %s\n", commit)
	p("- Machine: %s (shared with other jobs)\n", e2e.Machine())
	p("- Two real nodes (kubelet, containerd, runc), the umbrella chart from the project's images, two replicas of each service\n")
	p("- Whole suite (images, control plane, nodes, chart, every step below, stop): %s\n\n", total.Round(time.Second))
	p("| step | took |\n|---|---|\n")
	for _, row := range r.rows {
		p("| %s | %s |\n", row[0], row[1])
	}
	return b.Bytes()
}
