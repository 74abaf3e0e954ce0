//go:build unix

package localcp

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// AuditPolicy is the audit policy of a control plane started with
// Options.AuditLog: every request that changes something, at Metadata level
// (who, with which user agent, what, when received, how it ended), once its
// response is complete. Reads are left out: they are most of the traffic
// and change nothing.
const AuditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
# One entry per request, written when the response is complete; it still
# carries requestReceivedTimestamp.
omitStages: ["RequestReceived"]
rules:
- level: None
  verbs: ["get", "list", "watch"]
- level: Metadata
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
`

// AuditLogMaxSizeMB and AuditLogMaxBackups bound the audit log on disk: the
// kube-apiserver rotates it at that size (into audit-<time>.log beside it)
// and keeps that many old files.
const (
	AuditLogMaxSizeMB  = 200
	AuditLogMaxBackups = 3
)

// auditArgs writes the policy into the work directory and returns the
// kube-apiserver flags of the audit log.
func (cp *ControlPlane) auditArgs() ([]string, error) {
	policy := filepath.Join(cp.Dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(AuditPolicy), 0o644); err != nil {
		return nil, fmt.Errorf("audit policy: %w", err)
	}
	return []string{
		"--audit-policy-file=" + policy,
		"--audit-log-path=" + cp.auditLogPath(),
		"--audit-log-format=json",
		// Blocking: an entry is written before the response goes out, so
		// that a request the log does not hold was not served.
		"--audit-log-mode=blocking",
		fmt.Sprintf("--audit-log-maxsize=%d", AuditLogMaxSizeMB),
		fmt.Sprintf("--audit-log-maxbackup=%d", AuditLogMaxBackups),
	}, nil
}

func (cp *ControlPlane) auditLogPath() string { return filepath.Join(cp.Dir, "logs", "audit.log") }

// AuditLogPaths are the audit log's files, the rotated ones (oldest first)
// then the current one; none when the control plane runs without an audit
// log (Options.AuditLog).
func (cp *ControlPlane) AuditLogPaths() ([]string, error) {
	if !cp.opts.AuditLog {
		return nil, nil
	}
	cur := cp.auditLogPath()
	// Rotated files are named audit-<UTC time>.log: sorted by name is
	// sorted by age.
	old, err := filepath.Glob(strings.TrimSuffix(cur, ".log") + "-*.log")
	if err != nil {
		return nil, err
	}
	sort.Strings(old)
	return append(old, cur), nil
}

// ReadAuditEvents reads audit events, one JSON object a line as the
// kube-apiserver's log backend writes them, and returns those keep accepts
// (all when keep is nil). A line that does not parse is an error naming
// its number; a last line cut short (the server writing it now) is not.
func ReadAuditEvents(r io.Reader, keep func(*auditv1.Event) bool) ([]auditv1.Event, error) {
	var out []auditv1.Event
	br := bufio.NewReaderSize(r, 1<<20)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err == io.EOF && len(line) > 0 {
			// No newline yet: an entry still being written.
			return out, nil
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("audit log line %d: %w", n, err)
		}
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var ev auditv1.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return out, fmt.Errorf("audit log line %d: %w", n, err)
		}
		if keep == nil || keep(&ev) {
			out = append(out, ev)
		}
	}
}

// ReadAuditLog reads the control plane's audit log, every file of it (see
// AuditLogPaths), and returns the events keep accepts. It is an error to
// ask a control plane started without an audit log.
func (cp *ControlPlane) ReadAuditLog(keep func(*auditv1.Event) bool) ([]auditv1.Event, error) {
	paths, err := cp.AuditLogPaths()
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("this control plane writes no audit log (start it with Options.AuditLog)")
	}
	var out []auditv1.Event
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return out, fmt.Errorf("audit log: %w", err)
		}
		evs, err := ReadAuditEvents(f, keep)
		f.Close()
		if err != nil {
			return out, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, evs...)
	}
	return out, nil
}
