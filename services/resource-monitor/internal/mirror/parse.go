// Reading the NADs for the mirror: each one's CNI config parsed (kept
// while its resource version stays), and what cannot be mirrored (a bad
// supernet, a label value that selects nothing) reported once.

package mirror

import (
	"fmt"

	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/cniconfig"
	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/nadcache"
	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/resources"
)

// parse returns the NADs whose config is usable, and how many are not.
// Each NAD version is parsed, and a bad one reported, once.
func (m *Mirror) parse(list []nadcache.NAD) ([]resources.NAD, int) {
	next := make(map[string]parseResult, len(list))
	out := make([]resources.NAD, 0, len(list))
	rejected := 0
	for _, n := range list {
		k := n.Key()
		prev, seen := m.parsed[k]
		r := prev
		if !seen || prev.resourceVersion != n.ResourceVersion {
			r = parseResult{resourceVersion: n.ResourceVersion}
			if n.HasConfig {
				r.network, r.err = cniconfig.Parse([]byte(n.Config), n.Name)
			} else {
				r.err = fmt.Errorf("%w: spec.config missing or not a string", cniconfig.ErrInvalidConfig)
			}
			switch {
			case r.err != nil:
				m.metrics.parseErrors.WithLabelValues(cniconfig.Reason(r.err)).Inc()
				m.cfg.Log.Warn("NAD config unusable; the NAD gets no resource entry", "namespace", n.Namespace, "nad", n.Name,
					"reason", cniconfig.Reason(r.err), "error", r.err)
			case seen && prev.err != nil:
				m.cfg.Log.Info("NAD config usable again", "namespace", n.Namespace, "nad", n.Name)
			}
		}
		next[k] = r
		if r.err != nil {
			rejected++
			continue
		}
		out = append(out, resources.NAD{Namespace: n.Namespace, Name: n.Name, Supernet: n.Supernet, Network: r.network})
	}
	m.parsed = next
	return out, rejected
}

// reportSupernets logs supernet problems when they appear, change or go.
func (m *Mirror) reportSupernets(errs map[string]error) {
	for name, err := range errs {
		if m.supernetErrors[name] != err.Error() {
			m.supernetErrors[name] = err.Error()
			m.cfg.Log.Warn("supernet has no covering CIDR; it gets no resource entry, its members keep theirs", "supernet", name, "error", err)
		}
	}
	for name := range m.supernetErrors {
		if errs[name] == nil {
			delete(m.supernetErrors, name)
			m.cfg.Log.Info("supernet problem resolved", "supernet", name)
		}
	}
}

// reportNotSelected logs, once per NAD and label value, the NADs whose
// available-for-allocation label is there but not "true": a NAD labelled
// "True" or "yes" was most likely meant to be mirrored, and would otherwise
// get no entry and no word.
func (m *Mirror) reportNotSelected(nads []nadcache.NAD) {
	seen := make(map[string]string, len(nads))
	for _, n := range nads {
		k := n.Key()
		seen[k] = n.Available
		if v, reported := m.notSelected[k]; reported && v == n.Available {
			continue
		}
		m.cfg.Log.Warn("NAD not selected for allocation; it gets no resource entry", "namespace", n.Namespace, "nad", n.Name,
			"label", nadcache.LabelAvailable, "value", n.Available, "reason", nadcache.NotSelectedReason(n.Available))
	}
	m.notSelected = seen
}
