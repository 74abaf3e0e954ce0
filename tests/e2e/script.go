package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// Script plays a processing script: it writes deployment entries as raw
// JSON at raw depth-tagged keys, in the field names of old and new
// ska-sdp-config versions, and waits on state entries. Here, and only
// here, keys and JSON are written by hand on purpose: the point is to check
// the wire format, not to reuse the Go contract that implements it.
type Script struct {
	// store is used only for its etcd client: the raw reads and writes go
	// through it as through any etcd client.
	store  *configdb.Store
	prefix string

	mu sync.Mutex
	// Model is what the script last wrote for each id; a deleted id maps
	// to nil.
	model map[string]*Written
}

// Written is a deployment entry as the script last wrote it.
type Written struct {
	Form   Form
	Chart  string
	Values map[string]any
}

// Form is the set of field names a client version wrote an entry with.
type Form int

// The forms of a deployment entry: the current one and those of older
// clients, which wrote the id as id, dpl_id or deploy_id and the kind as
// type.
const (
	FormKeyKind Form = iota
	FormIDType
	FormDplIDType
	FormDeployIDKind
	NumForms
)

func (f Form) String() string {
	return [...]string{"key+kind", "id+type", "dpl_id+type", "deploy_id+kind"}[f]
}

func (f Form) fields() (idField, kindField string) {
	switch f {
	case FormIDType:
		return "id", "type"
	case FormDplIDType:
		return "dpl_id", "type"
	case FormDeployIDKind:
		return "deploy_id", "kind"
	}
	return "key", "kind"
}

// NewScript writes through store's etcd client under the global prefix
// (SDP_CONFIG_PREFIX, "" for none).
func NewScript(store *configdb.Store, prefix string) *Script {
	return &Script{store: store, prefix: prefix, model: map[string]*Written{}}
}

// rawKey is the depth-tagged etcd key of a logical path, as ska-sdp-config
// makes it: the number of '/' in the prefixed path, then the path.
func (s *Script) rawKey(path string) string {
	full := s.prefix + path
	return strconv.Itoa(strings.Count(full, "/")) + full
}

func (s *Script) deployKey(id string) string { return s.rawKey("/deploy/" + id) }
func (s *Script) stateKey(id string) string  { return s.rawKey("/deploy/" + id + "/state") }

// EntryJSON is the entry a client of the given form writes: Python's
// json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False).
func EntryJSON(form Form, id, chart string, values map[string]any) ([]byte, error) {
	idField, kindField := form.fields()
	doc := map[string]any{
		idField:   id,
		kindField: "helm",
		"args":    map[string]any{"chart": chart, "values": values},
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("entry %s: %w", id, err)
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// Put writes /deploy/<id> (create or change).
func (s *Script) Put(ctx context.Context, id string, form Form, chart string, values map[string]any) error {
	data, err := EntryJSON(form, id, chart, values)
	if err != nil {
		return err
	}
	if _, err := s.store.Client().Put(ctx, s.deployKey(id), string(data)); err != nil {
		return fmt.Errorf("write /deploy/%s: %w", id, err)
	}
	s.mu.Lock()
	s.model[id] = &Written{Form: form, Chart: chart, Values: values}
	s.mu.Unlock()
	return nil
}

// Delete removes /deploy/<id>, and its state entry too when withState (as
// some script versions do; others leave it for the deployer to remove).
func (s *Script) Delete(ctx context.Context, id string, withState bool) error {
	if _, err := s.store.Client().Delete(ctx, s.deployKey(id)); err != nil {
		return fmt.Errorf("delete /deploy/%s: %w", id, err)
	}
	s.mu.Lock()
	s.model[id] = nil
	s.mu.Unlock()
	if withState {
		if _, err := s.store.Client().Delete(ctx, s.stateKey(id)); err != nil {
			return fmt.Errorf("delete /deploy/%s/state: %w", id, err)
		}
	}
	return nil
}

// Model returns what the script last wrote per id (nil: deleted).
func (s *Script) Model() map[string]*Written {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]*Written, len(s.model))
	for k, v := range s.model {
		m[k] = v
	}
	return m
}

// RawState is a state entry as a Python script reads it.
type RawState struct {
	Pods    map[string]string `json:"pods"`
	Release *struct {
		Name            string `json:"name"`
		Status          string `json:"status"`
		Revision        int    `json:"revision"`
		Chart           string `json:"chart"`
		Version         string `json:"version"`
		Error           string `json:"error"`
		Readiness       string `json:"readiness"`
		ReadinessReason string `json:"readiness_reason"`
		Drift           []struct {
			Kind      string   `json:"kind"`
			Name      string   `json:"name"`
			Change    string   `json:"change"`
			Fields    []string `json:"fields"`
			Seen      string   `json:"seen"`
			Corrected string   `json:"corrected"`
		} `json:"drift"`
	} `json:"release"`
	Reasons map[string]struct {
		Reason        string `json:"reason"`
		Message       string `json:"message"`
		Container     string `json:"container"`
		InitContainer bool   `json:"init_container"`
		ExitCode      *int   `json:"exit_code"`
	} `json:"reasons"`
}

// State reads /deploy/<id>/state; found is false when there is none.
func (s *Script) State(ctx context.Context, id string) (st RawState, found bool, err error) {
	resp, err := s.store.Client().Get(ctx, s.stateKey(id))
	if err != nil {
		return st, false, fmt.Errorf("read /deploy/%s/state: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return st, false, nil
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &st); err != nil {
		return st, true, fmt.Errorf("/deploy/%s/state is not what a script can read: %w", id, err)
	}
	return st, true, nil
}

// WaitState polls /deploy/<id>/state until cond holds, and returns the
// entry then; on timeout the error shows the last entry seen.
func (s *Script) WaitState(ctx context.Context, id string, timeout time.Duration, what string, cond func(st RawState, found bool) bool) (RawState, error) {
	var st RawState
	err := eventually.Poll(ctx, timeout, 100*time.Millisecond, func(ctx context.Context) error {
		var found bool
		var err error
		st, found, err = s.State(ctx, id)
		if err == nil && cond(st, found) {
			return nil
		}
		b, _ := json.Marshal(st)
		return fmt.Errorf("found=%v %s err=%v", found, b, err)
	})
	if err != nil {
		return st, fmt.Errorf("/deploy/%s/state: %s not reached: %w", id, what, err)
	}
	return st, nil
}
