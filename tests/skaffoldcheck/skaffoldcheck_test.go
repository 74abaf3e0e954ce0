package skaffoldcheck_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"github.com/santhosh-tekuri/jsonschema/v6"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/strvals"

	"github.com/ska-telescope/sdp-helmdeploy/tests/skaffoldcheck"
	"github.com/ska-telescope/sdp-helmdeploy/tools/images"
)

const root = "../.."

// schema is skaffold's own, copied byte for byte (see testdata/README.md).
func schema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	b, err := os.ReadFile("testdata/skaffold-v4beta14.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := skaffoldcheck.Schema(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func configs(t *testing.T) []skaffoldcheck.Config {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "skaffold.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := skaffoldcheck.Check(b, schema(t))
	if err != nil {
		t.Fatalf("skaffold.yaml: %v", err)
	}
	return cs
}

// The schema catches what skaffold would refuse: the control for the
// check above, so that a schema that accepted anything would fail here.
func TestSchemaRejects(t *testing.T) {
	s := schema(t)
	valid := `apiVersion: skaffold/v4beta14
kind: Config
metadata: {name: x}
build:
  artifacts:
    - image: x
      custom: {buildCommand: "true", dependencies: {paths: [.]}}
`
	if _, err := skaffoldcheck.Check([]byte(valid), s); err != nil {
		t.Fatalf("a valid config is refused: %v", err)
	}
	for name, doc := range map[string]string{
		"unknown field":           strings.Replace(valid, "buildCommand:", "buildComand:", 1),
		"paths not a list":        strings.Replace(valid, "paths: [.]", "paths: .", 1),
		"two builders":            strings.Replace(valid, "    - image: x\n", "    - image: x\n      ko: {}\n", 1),
		"second document invalid": valid + "---\n" + strings.Replace(valid, "kind: Config", "kind: Config\nbogus: 1", 1),
	} {
		if _, err := skaffoldcheck.Check([]byte(doc), s); err == nil {
			t.Errorf("%s: accepted:\n%s", name, doc)
		}
	}
}

// templateName is how skaffold names an artifact in template variables.
func templateName(image string) string {
	return strings.NewReplacer("/", "_", "-", "_").Replace(image)
}

var imageVar = regexp.MustCompile(`\.IMAGE_(?:REPO|TAG|DIGEST|NAME)_(\w+)`)

func TestSkaffoldYAML(t *testing.T) {
	cs := configs(t)
	var names, imageNames []string
	for _, c := range cs {
		names = append(names, c.Metadata.Name)
		for _, a := range c.Build.Artifacts {
			imageNames = append(imageNames, a.Image)
		}
	}
	if !slices.Equal(names, images.Services) {
		t.Fatalf("configs %v, want one per service %v (named after it, for -m)", names, images.Services)
	}
	distinct := map[string]bool{}
	for _, im := range imageNames {
		distinct[im] = true
	}
	if len(imageNames) != len(images.Services) || len(distinct) != len(imageNames) {
		t.Errorf("artifacts %v: want %d with distinct images", imageNames, len(images.Services))
	}

	for _, c := range cs {
		service := c.Metadata.Name
		t.Run(service, func(t *testing.T) {
			if c.APIVersion != "skaffold/v4beta14" || c.Kind != "Config" {
				t.Errorf("apiVersion %q kind %q", c.APIVersion, c.Kind)
			}
			if len(c.Build.Artifacts) != 1 {
				t.Fatalf("%d artifacts, want 1", len(c.Build.Artifacts))
			}
			a := c.Build.Artifacts[0]
			if a.Custom == nil {
				t.Fatal("not built by the custom builder (sdp-image)")
			}
			if got, want := strings.Fields(a.Custom.BuildCommand), []string{"go", "run", "./tools/cmd/sdp-image", "skaffold", service}; !slices.Equal(got, want) {
				t.Errorf("buildCommand %q, want %q", a.Custom.BuildCommand, strings.Join(want, " "))
			}
			if a.Context != "." {
				t.Errorf("context %q: the build command runs from the repository root", a.Context)
			}
			for _, p := range []string{"services/" + service, "shared"} {
				if !slices.Contains(a.Custom.Dependencies.Paths, p) {
					t.Errorf("dependencies.paths %v lack %s", a.Custom.Dependencies.Paths, p)
				}
			}
			for _, p := range a.Custom.Dependencies.Paths {
				if _, err := os.Stat(filepath.Join(root, p)); err != nil {
					t.Errorf("dependency path %s: %v", p, err)
				}
			}

			if len(c.Deploy.Helm.Releases) != 1 {
				t.Fatalf("%d helm releases, want 1", len(c.Deploy.Helm.Releases))
			}
			rel := c.Deploy.Helm.Releases[0]
			if rel.ChartPath != "charts/"+service {
				t.Errorf("chartPath %q, want charts/%s", rel.ChartPath, service)
			}
			own := templateName(a.Image)
			for key, want := range map[string]string{
				"image.repository": "{{.IMAGE_REPO_" + own + "}}",
				"image.tag":        "{{.IMAGE_TAG_" + own + "}}@{{.IMAGE_DIGEST_" + own + "}}",
			} {
				if got := rel.SetValueTemplates[key]; got != want {
					t.Errorf("setValueTemplates %s = %q, want %q", key, got, want)
				}
			}
			for key, v := range rel.SetValueTemplates {
				for _, m := range imageVar.FindAllStringSubmatch(v, -1) {
					if m[1] != own {
						t.Errorf("setValueTemplates %s refers to artifact %s, not its own (%s)", key, m[1], own)
					}
				}
			}
			checkRender(t, service, a, rel)
		})
	}
}

// checkRender renders the release's chart with the values skaffold would
// set after building the artifact into a registry, and checks the
// Deployment runs that image, by tag and digest, and that the values pass
// the chart's schema.
func checkRender(t *testing.T, service string, a skaffoldcheck.Artifact, rel skaffoldcheck.Release) {
	t.Helper()
	chartDir := filepath.Join(root, rel.ChartPath)
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("chart %s: %v", rel.ChartPath, err)
	}
	if ch.Name() != service {
		t.Errorf("chart %s is named %q", rel.ChartPath, ch.Name())
	}
	own := templateName(a.Image)
	repo := "localhost:5000/sdp/" + a.Image
	tag := "v0.1.0-3-gabc1234-dirty"
	digest := "sha256:" + strings.Repeat("0123456789abcdef", 4)
	vars := map[string]any{"IMAGE_REPO_" + own: repo, "IMAGE_TAG_" + own: tag, "IMAGE_DIGEST_" + own: digest}
	vals := map[string]any{}
	for key, text := range rel.SetValueTemplates {
		tpl, err := template.New(key).Funcs(sprig.TxtFuncMap()).Option("missingkey=zero").Parse(text)
		if err != nil {
			t.Fatalf("setValueTemplates %s: %v", key, err)
		}
		var b bytes.Buffer
		if err := tpl.Execute(&b, vars); err != nil {
			t.Fatalf("setValueTemplates %s: %v", key, err)
		}
		// skaffold hands them to helm as --set key=value.
		if err := strvals.ParseInto(key+"="+b.String(), vals); err != nil {
			t.Fatalf("--set %s=%s: %v", key, b.String(), err)
		}
	}
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		t.Fatal(err)
	}
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: rel.Name, Namespace: rel.Namespace, IsInstall: true}, nil)
	if err != nil {
		t.Fatalf("the values skaffold sets do not fit the chart: %v", err)
	}
	out, err := engine.Render(ch, rv)
	if err != nil {
		t.Fatalf("render %s: %v", rel.ChartPath, err)
	}
	var deployments []appsv1.Deployment
	for _, doc := range out {
		for _, part := range strings.Split(doc, "\n---") {
			var d appsv1.Deployment
			if yaml.Unmarshal([]byte(part), &d) == nil && d.Kind == "Deployment" {
				deployments = append(deployments, d)
			}
		}
	}
	if len(deployments) != 1 {
		t.Fatalf("%d Deployments rendered, want 1", len(deployments))
	}
	d := deployments[0]
	want := repo + ":" + tag + "@" + digest
	if cs := d.Spec.Template.Spec.Containers; len(cs) != 1 || cs[0].Image != want {
		t.Errorf("container image %v, want %s", cs, want)
	}
	// The API server refuses a Deployment whose labels are not valid label
	// values; a tag@digest in a label is the way this goes wrong.
	for where, labels := range map[string]map[string]string{"metadata": d.Labels, "pod template": d.Spec.Template.Labels} {
		for k, v := range labels {
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				t.Errorf("%s label %s=%q is not a valid label value: %s", where, k, v, strings.Join(errs, "; "))
			}
		}
	}
}
