package configdb

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"unicode/utf8"
)

// PartReasons is the part of a state entry that says why pods are not
// RUNNING or FINISHED, owned by the pod-monitor beside the pods part. It is
// a part of its own, not a change of the pods part, so that every reader of
// the pods part (ska-sdp-config included) reads it as before and ignores
// this one:
//
//	"reasons": {
//	  "<pod>": {
//	    "reason": "CrashLoopBackOff",    Kubernetes' word (Unschedulable, ErrImagePull, OOMKilled, Evicted, ...)
//	    "message": "back-off 5m0s ...",  what the scheduler or kubelet said, at most MaxReasonMessage bytes
//	    "container": "receiver",         the container it is about, if any
//	    "init_container": true,          when that container is an init container
//	    "exit_code": 137,                its last exit code, when it has exited
//	    "exit_reason": "OOMKilled",      why it last exited, when reason is not already that
//	    "other_containers": 1            how many more containers have a problem of their own
//	  }
//	}
//
// The names are snake_case like the rest of the config DB's Python-written
// entries. One reason per pod and one container per reason keep the part
// bounded by the number of pods. A pod without a reason has no key, and a
// state entry whose pods all run has no part, so such an entry is
// byte-identical to one written before the part existed.
const PartReasons = "reasons"

// Bounds of a PodReason's strings, in bytes of UTF-8. A kubelet's image
// pull message quotes the registry's whole answer; the state entry is read
// by every script that polls it, so what it carries stays short.
const (
	MaxReasonMessage = 256
	MaxReasonWord    = 64
)

// PodReason says why a pod is not RUNNING or FINISHED (see PartReasons).
type PodReason struct {
	Reason        string `json:"reason"`
	Message       string `json:"message,omitempty"`
	Container     string `json:"container,omitempty"`
	InitContainer bool   `json:"init_container,omitempty"`
	// ExitCode is a pointer because 0 is an exit code (a container that
	// keeps completing under restartPolicy Always crash-loops with it).
	ExitCode        *int32 `json:"exit_code,omitempty"`
	ExitReason      string `json:"exit_reason,omitempty"`
	OtherContainers int    `json:"other_containers,omitempty"`
}

// Bounded returns r with every string cut to its bound (a cut message ends
// in "…") and made valid UTF-8.
func (r PodReason) Bounded() PodReason {
	r.Reason = bound(r.Reason, MaxReasonWord)
	r.Message = bound(r.Message, MaxReasonMessage)
	r.Container = bound(r.Container, MaxReasonWord)
	r.ExitReason = bound(r.ExitReason, MaxReasonWord)
	return r
}

// BoundMessage cuts a message for a state entry (a reason's, a release's
// readiness reason) to MaxReasonMessage bytes, as Bounded does.
func BoundMessage(s string) string { return bound(s, MaxReasonMessage) }

func bound(s string, n int) string {
	// Invalid bytes would each be written as a 3-byte U+FFFD.
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// Equal reports whether two reasons say the same.
func (r PodReason) Equal(o PodReason) bool {
	if (r.ExitCode == nil) != (o.ExitCode == nil) || (r.ExitCode != nil && *r.ExitCode != *o.ExitCode) {
		return false
	}
	r.ExitCode, o.ExitCode = nil, nil
	return r == o
}

// PodReport is what the pod-monitor owns of a state entry: the pods part
// and the reasons part, always written together.
type PodReport struct {
	Pods    map[string]PodStatus
	Reasons map[string]PodReason
}

// Equal reports whether two reports would write the same parts.
func (p PodReport) Equal(o PodReport) bool {
	return maps.Equal(p.Pods, o.Pods) && maps.EqualFunc(p.Reasons, o.Reasons, PodReason.Equal)
}

// UpdatePodReport sets the "pods" and "reasons" parts of a deployment's
// state entry to what fn returns for the current ones, in one
// compare-and-swap write, so that no reader sees a reason for a status
// that has changed. Reasons are bounded (PodReason.Bounded) and kept only
// for pods in the pods map; an empty reasons map removes the part.
// Everything else in the entry is kept, and nothing is written when
// neither part changes.
func (s *Store) UpdatePodReport(ctx context.Context, id string, fn func(cur PodReport) PodReport) (UpdateResult, error) {
	return s.updateDoc(ctx, id, PartPods+" and "+PartReasons, podReportChange(fn))
}

// podReportChange is UpdatePodReport's edit of a decoded state entry.
func podReportChange(fn func(cur PodReport) PodReport) func(doc map[string]any) (bool, error) {
	return func(doc map[string]any) (bool, error) {
		var cur PodReport
		var err error
		if cur.Pods, err = podsFromPart(doc[PartPods]); err != nil {
			return false, err
		}
		if cur.Reasons, err = reasonsFromPart(doc[PartReasons]); err != nil {
			return false, err
		}
		next := fn(cur)
		podsChanged, err := applyPart(doc, PartPods, podsPart(func(map[string]PodStatus) map[string]PodStatus { return next.Pods }))
		if err != nil {
			return false, err
		}
		reasonsChanged, err := applyReasons(doc, next)
		return podsChanged || reasonsChanged, err
	}
}

// applyReasons replaces the reasons part with next's reasons of pods that
// are in next's pods map, or removes it when there are none.
func applyReasons(doc map[string]any, next PodReport) (bool, error) {
	part := map[string]any{}
	for name, r := range next.Reasons {
		if _, ok := next.Pods[name]; !ok {
			continue
		}
		g, err := toGeneric(r.Bounded())
		if err != nil {
			return false, fmt.Errorf("reason of pod %s: %w", name, err)
		}
		part[name] = g
	}
	old, had := doc[PartReasons]
	switch {
	case len(part) == 0 && !had:
		return false, nil
	case len(part) == 0:
		delete(doc, PartReasons)
		return true, nil
	case had && sameJSON(old, part):
		return false, nil
	}
	doc[PartReasons] = part
	return true, nil
}

func reasonsFromPart(part any) (map[string]PodReason, error) {
	if part == nil {
		return nil, nil
	}
	m, ok := part.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %q is %s, not an object", ErrBadState, PartReasons, jsonKind(part))
	}
	reasons := make(map[string]PodReason, len(m))
	for name, v := range m {
		if _, ok := v.(map[string]any); !ok {
			return nil, fmt.Errorf("%w: reason of pod %q is %s, not an object", ErrBadState, name, jsonKind(v))
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%w: reason of pod %q: %v", ErrBadState, name, err)
		}
		var r PodReason
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("%w: reason of pod %q: %v", ErrBadState, name, err)
		}
		reasons[name] = r
	}
	return reasons, nil
}
