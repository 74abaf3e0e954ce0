// Package skaffoldcheck checks a skaffold.yaml without skaffold, which is
// not installed where the tests run: every document must be valid against
// skaffold's JSON schema for the file's apiVersion, and decodes into the
// few fields the project's checks look at.
package skaffoldcheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/santhosh-tekuri/jsonschema/v6"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Config is the part of one skaffold config (one YAML document) that the
// checks read.
type Config struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Build struct {
		Artifacts []Artifact `json:"artifacts"`
	} `json:"build"`
	Deploy struct {
		Helm struct {
			Releases []Release `json:"releases"`
		} `json:"helm"`
	} `json:"deploy"`
}

// Artifact is an image skaffold builds.
type Artifact struct {
	Image   string `json:"image"`
	Context string `json:"context"`
	Custom  *struct {
		BuildCommand string `json:"buildCommand"`
		Dependencies struct {
			Paths []string `json:"paths"`
		} `json:"dependencies"`
	} `json:"custom"`
}

// Release is a Helm release skaffold deploys.
type Release struct {
	Name              string            `json:"name"`
	ChartPath         string            `json:"chartPath"`
	Namespace         string            `json:"namespace"`
	SetValueTemplates map[string]string `json:"setValueTemplates"`
}

// Schema compiles a JSON schema document.
func Schema(schemaJSON []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, fmt.Errorf("read the schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	const url = "skaffold-schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("load the schema: %w", err)
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("compile the schema: %w", err)
	}
	return s, nil
}

// Check validates every YAML document of a skaffold.yaml against schema
// and decodes them, in order. Empty documents are skipped.
func Check(skaffoldYAML []byte, schema *jsonschema.Schema) ([]Config, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(skaffoldYAML)))
	var out []Config
	var errs []error
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if err := schema.Validate(inst); err != nil {
			errs = append(errs, fmt.Errorf("document %d is not a valid skaffold config: %w", i, err))
			continue
		}
		var c Config
		if err := yaml.Unmarshal(doc, &c); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}
