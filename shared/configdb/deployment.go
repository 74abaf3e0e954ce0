package configdb

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// KindHelm is the deployment kind this deployer acts on. Entries of any
// other kind belong to other deployers and are left alone.
const KindHelm = "helm"

// MaxChartRefLen bounds a chart reference (a name, an oci:// reference or a
// path; PATH_MAX is 4096) and MaxVersionLen a chart version. Longer is a bad
// entry: error messages quote both, and a message that quotes an 800 KiB
// chart name no longer fits in a state entry (etcd refuses the write), so
// the user would see nothing at all.
const (
	MaxChartRefLen = 4096
	MaxVersionLen  = 256
)

// maxQuoted bounds what an error message quotes of an entry's own text.
const maxQuoted = 100

// ErrBadDeployment marks a deployment entry that cannot be read; the error
// text says what is wrong in words a script author can act on.
var ErrBadDeployment = errors.New("bad deployment entry")

// Deployment is a deployment entry, /deploy/<id>.
//
// On the wire: {"key": "<id>", "kind": "helm", "args": {"chart": "<chart>",
// "values": {...}}}. Older clients wrote the id as "id", "dpl_id" or
// "deploy_id" and the kind as "type"; all are read, and Encode writes the
// current names.
type Deployment struct {
	// ID is the deployment id; the key of the entry is authoritative.
	ID string
	// Kind is "helm" for entries of this deployer.
	Kind string
	// Chart names the chart: a name in the configured repository (no '/'),
	// an oci:// reference, or a local path.
	Chart string
	// Version optionally pins the chart version.
	Version string
	// Values are the chart values with dotted top-level keys already
	// expanded into nested maps (see ExpandValues). Numbers are json.Number.
	Values map[string]any
}

// IsHelm reports whether the entry is one for this deployer.
func (d Deployment) IsHelm() bool { return d.Kind == KindHelm }

// deploymentWire is the entry as written; alternative names are read by
// DecodeDeployment.
type deploymentWire struct {
	Key  string         `json:"key"`
	Kind string         `json:"kind"`
	Args deploymentArgs `json:"args"`
}

type deploymentArgs struct {
	Chart   string         `json:"chart"`
	Version string         `json:"version,omitempty"`
	Values  map[string]any `json:"values,omitempty"`
}

// idFields and kindFields list the names under which clients old and new
// wrote the id and the kind, current first.
var (
	idFields   = []string{"key", "id", "dpl_id", "deploy_id"}
	kindFields = []string{"kind", "type"}
)

// DecodeDeployment reads the deployment entry stored for id. Entries of
// another kind are returned with their Kind and nothing else checked, since
// their args are another deployer's business. For helm entries the chart
// must be named and the values must expand without conflict.
func DecodeDeployment(id string, data []byte) (Deployment, error) {
	d := Deployment{ID: id}
	fail := func(format string, args ...any) (Deployment, error) {
		return d, fmt.Errorf("%w /deploy/%s: %s", ErrBadDeployment, id, fmt.Sprintf(format, args...))
	}
	top, err := decodeObject(data)
	if err != nil {
		return fail("%v", err)
	}
	bodyID, field, err := firstString(top, idFields)
	if err != nil {
		return fail("%v", err)
	}
	if field != "" && bodyID != id {
		return fail("field %q says the id is %q, but the entry is stored under %q", field, truncate(bodyID, maxQuoted), id)
	}
	d.Kind, _, err = firstString(top, kindFields)
	if err != nil {
		return fail("%v", err)
	}
	if d.Kind == "" {
		return fail(`no "kind" (or "type") field`)
	}
	if !d.IsHelm() {
		return d, nil
	}
	rawArgs, ok := top["args"]
	if !ok || string(rawArgs) == "null" {
		return fail(`no "args" object: a helm deployment needs {"args": {"chart": ...}}`)
	}
	args, err := decodeObject(rawArgs)
	if err != nil {
		return fail(`"args": %v`, err)
	}
	chart, _, err := firstString(args, []string{"chart"})
	if err != nil {
		return fail(`"args": %v`, err)
	}
	switch {
	case strings.TrimSpace(chart) == "":
		return fail(`"args.chart" is missing or empty`)
	case len(chart) > MaxChartRefLen:
		return fail(`"args.chart" is %d bytes long (%q); a chart reference has at most %d`, len(chart), truncate(chart, maxQuoted), MaxChartRefLen)
	}
	d.Chart = chart
	version, _, err := firstString(args, []string{"version"})
	if err != nil {
		return fail(`"args": %v`, err)
	}
	if len(version) > MaxVersionLen {
		return fail(`"args.version" is %d bytes long (%q); a chart version has at most %d`, len(version), truncate(version, maxQuoted), MaxVersionLen)
	}
	d.Version = version
	if rawValues, ok := args["values"]; ok && string(rawValues) != "null" {
		v, err := decodeGeneric(rawValues)
		if err != nil {
			return fail(`"args.values": %v`, err)
		}
		values, isObject := v.(map[string]any)
		if !isObject {
			return fail(`"args.values" must be an object, not %s`, jsonKind(v))
		}
		if d.Values, err = ExpandValues(values); err != nil {
			return fail(`"args.values": %v`, err)
		}
	}
	return d, nil
}

// DecodeDeploymentDocument reads a whole deployment entry that carries its
// id in its body rather than in a key, as an operator writes one to a file
// (for example the output of Encode). The id is read from the same fields
// as DecodeDeployment reads, must be present and valid; the rest is checked
// as DecodeDeployment checks it.
func DecodeDeploymentDocument(data []byte) (Deployment, error) {
	top, err := decodeObject(data)
	if err != nil {
		return Deployment{}, fmt.Errorf("%w: %v", ErrBadDeployment, err)
	}
	id, _, err := firstString(top, idFields)
	if err != nil {
		return Deployment{}, fmt.Errorf("%w: %v", ErrBadDeployment, err)
	}
	if id == "" {
		return Deployment{}, fmt.Errorf(`%w: no "key" field naming the deployment id`, ErrBadDeployment)
	}
	if err := ValidateID(id); err != nil {
		return Deployment{ID: id}, err
	}
	return DecodeDeployment(id, data)
}

// Encode writes the entry as ska-sdp-config does, with the current field
// names. Values are written as they are held (already expanded), with dots
// and backslashes in top-level keys escaped, so that the entry reads back
// as the same values.
func (d Deployment) Encode() ([]byte, error) {
	var values map[string]any
	if d.Values != nil {
		values = make(map[string]any, len(d.Values))
		for k, v := range d.Values {
			values[escapeKey(k)] = v
		}
	}
	return encodeValue(deploymentWire{
		Key:  d.ID,
		Kind: d.Kind,
		Args: deploymentArgs{Chart: d.Chart, Version: d.Version, Values: values},
	})
}

// decodeObject decodes a JSON object into its raw members.
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	v, err := decodeGeneric(data)
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("must be a JSON object, not %s", jsonKind(v))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	return m, nil
}

// firstString returns the first of fields present in m, which must be a
// string, and the field it came from ("" when none is present).
func firstString(m map[string]json.RawMessage, fields []string) (string, string, error) {
	for _, f := range fields {
		raw, ok := m[f]
		if !ok || string(raw) == "null" {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", f, fmt.Errorf("field %q must be a string, not %s", f, string(truncateBytes(raw, 40)))
		}
		return s, f, nil
	}
	return "", "", nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func truncateBytes(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return append(append([]byte{}, b[:n]...), []byte("…")...)
}
