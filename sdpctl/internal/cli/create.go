package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/strvals"
	"sigs.k8s.io/yaml"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

type createOptions struct {
	file, chart, version, kind string
	valueFiles, sets           []string
}

func (a *app) createCmd() *cobra.Command {
	var o createOptions
	cmd := &cobra.Command{
		Use:   "create ID --chart CHART [--values FILE] [--set key=value ...] | create -f FILE",
		Short: "Create a deployment entry /deploy/<id>",
		Long: `Create a deployment entry, as a processing script would. The release-manager
installs the chart; follow it with 'sdpctl state ID --watch'.

Values come from --values files (YAML or JSON; later files win) and then
--set key=value (Helm's syntax: a.b=c, list[0]=x, several separated by ','),
with dotted keys in files meaning nested values, as in the entries scripts write.
-f reads a whole entry (JSON or YAML, as 'sdpctl get ID -o json' prints it;
'-' is standard input).

The id must be a valid deployment id that can become a Helm release name
(lower case letters, digits and '-', at most 53 characters with SDP_HELM_PREFIX).`,
		Example: `  sdpctl create my-receive --chart vis-receive --set receiver.replicas=2
  sdpctl create my-receive --chart oci://registry/charts/x --version 1.2.0 --values values.yaml
  sdpctl get my-receive -o yaml > d.yaml && sdpctl delete my-receive && sdpctl create -f d.yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			d, err := o.deployment(cmd, args)
			if err != nil {
				return err
			}
			return a.create(cmd, d)
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "filename", "f", "", "a whole deployment entry, JSON or YAML ('-' for standard input)")
	f.StringVar(&o.chart, "chart", "", "chart: a name in the chart repository, an oci:// reference or a path")
	f.StringVar(&o.version, "version", "", "chart version (default: the latest)")
	f.StringVar(&o.kind, "kind", configdb.KindHelm, "deployment kind; only helm entries are this deployer's")
	f.StringArrayVar(&o.valueFiles, "values", nil, "values file, YAML or JSON (repeatable; later files win)")
	f.StringArrayVar(&o.sets, "set", nil, "value key=value, Helm --set syntax (repeatable; applied after --values)")
	cmd.MarkFlagsMutuallyExclusive("filename", "chart")
	cmd.MarkFlagsMutuallyExclusive("filename", "values")
	cmd.MarkFlagsMutuallyExclusive("filename", "set")
	cmd.MarkFlagsMutuallyExclusive("filename", "version")
	cmd.MarkFlagsMutuallyExclusive("filename", "kind")
	return cmd
}

// deployment builds the entry the command line describes, without touching
// the config DB.
func (o *createOptions) deployment(cmd *cobra.Command, args []string) (configdb.Deployment, error) {
	if o.file != "" {
		return o.fromFile(cmd, args)
	}
	if len(args) != 1 {
		return configdb.Deployment{}, usagef("create: give the deployment id (sdpctl create ID --chart CHART), or -f FILE")
	}
	id := args[0]
	if o.chart == "" {
		return configdb.Deployment{}, usagef("create deployment %s: --chart is required: the chart to deploy (a repository chart name, oci:// reference or path)", id)
	}
	if o.kind == "" {
		return configdb.Deployment{}, usagef("create deployment %s: --kind must not be empty", id)
	}
	values, err := o.values()
	if err != nil {
		return configdb.Deployment{}, fmt.Errorf("create deployment %s: %w", id, err)
	}
	return configdb.Deployment{ID: id, Kind: o.kind, Chart: o.chart, Version: o.version, Values: values}, nil
}

func (o *createOptions) fromFile(cmd *cobra.Command, args []string) (configdb.Deployment, error) {
	var data []byte
	var err error
	if o.file == "-" {
		data, err = io.ReadAll(cmd.InOrStdin())
	} else {
		data, err = os.ReadFile(o.file)
	}
	if err != nil {
		return configdb.Deployment{}, fmt.Errorf("create from %s: %w", o.file, err)
	}
	// YAML is a superset of JSON, so one conversion reads both.
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return configdb.Deployment{}, fmt.Errorf("create from %s: not valid YAML or JSON: %v", o.file, err)
	}
	d, err := configdb.DecodeDeploymentDocument(js)
	if err != nil {
		return d, fmt.Errorf("create from %s: %w", o.file, err)
	}
	if len(args) == 1 && args[0] != d.ID {
		return d, usagef("create from %s: the file is deployment %q but the command line says %q; drop the id argument or make them agree", o.file, d.ID, args[0])
	}
	return d, nil
}

// values merges the --values files in order, then applies --set.
func (o *createOptions) values() (map[string]any, error) {
	values := map[string]any{}
	for _, path := range o.valueFiles {
		v, err := readValuesFile(path)
		if err != nil {
			return nil, err
		}
		mergeValues(values, v)
	}
	for _, s := range o.sets {
		if err := strvals.ParseInto(s, values); err != nil {
			return nil, fmt.Errorf("--set %q: %v; write key=value, with dots for nesting (a.b=c)", s, err)
		}
	}
	if len(values) == 0 {
		return nil, nil
	}
	return values, nil
}

// readValuesFile reads a YAML or JSON object of values. Dotted top-level
// keys are expanded as the services expand them in an entry, so a file
// means the same whether given here or written by a script.
func readValuesFile(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("values file: %w", err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("values file %s: not valid YAML or JSON: %v", path, err)
	}
	// Numbers stay as written (1.0 stays 1.0) rather than float64.
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("values file %s: %w", path, err)
	}
	if v == nil {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		what := "a single value"
		if _, isList := v.([]any); isList {
			what = "a list"
		}
		return nil, fmt.Errorf("values file %s: must hold a mapping of values (key: value), not %s", path, what)
	}
	expanded, err := configdb.ExpandValues(m)
	if err != nil {
		return nil, fmt.Errorf("values file %s: %w", path, err)
	}
	return expanded, nil
}

// mergeValues merges src into dst as Helm merges values files: maps merge
// key by key, anything else in src replaces what dst had.
func mergeValues(dst, src map[string]any) {
	for k, sv := range src {
		sm, srcIsMap := sv.(map[string]any)
		dm, dstIsMap := dst[k].(map[string]any)
		if srcIsMap && dstIsMap {
			mergeValues(dm, sm)
			continue
		}
		dst[k] = sv
	}
}

func (a *app) create(cmd *cobra.Command, d configdb.Deployment) error {
	if err := configdb.ValidateID(d.ID); err != nil {
		return fmt.Errorf("create deployment: %w", err)
	}
	s, err := a.connect()
	if err != nil {
		return err
	}
	defer s.close()
	// A Helm entry whose id cannot become a release name would only fail in
	// the release-manager; refuse it here where the operator sees why.
	if d.IsHelm() {
		if _, err := configdb.ReleaseName(s.env.HelmPrefix, d.ID); err != nil {
			return fmt.Errorf("create deployment %s: %w; use lower case letters, digits and '-'", d.ID, err)
		}
	}
	ctx, cancel := s.call(cmd.Context())
	defer cancel()
	if err := s.store.CreateDeployment(ctx, d); err != nil {
		if errors.Is(err, configdb.ErrExists) {
			return fmt.Errorf("create deployment %s: already exists; delete it first (sdpctl delete %s) or choose another id", d.ID, d.ID)
		}
		return s.dbError("create deployment "+d.ID, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "deployment %s created\n", d.ID)
	return nil
}
