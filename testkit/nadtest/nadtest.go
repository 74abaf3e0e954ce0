// Package nadtest helps the resource-monitor's tests against a real API
// server: it installs the NAD CRD from deploy/ and writes NADs labelled as
// the resource-monitor's contract with their owners says
// (docs/architecture.md, §4. From an entry to a release and a state).
package nadtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/manifests"
)

// CRDFile is the CRD's manifest, relative to the repository root.
const CRDFile = "deploy/crds/network-attachment-definition.yaml"

// GVR names the NAD resource the CRD serves.
var GVR = schema.GroupVersionResource{Group: "k8s.cni.cncf.io", Version: "v1", Resource: "network-attachment-definitions"}

// The labels are spelt here rather than taken from the service, so that a
// test fails when the service's spelling drifts from the contract.
const (
	// LabelAvailable marks a NAD for mirroring when "true".
	LabelAvailable = "sdp.skao.int/available-for-allocation"
	// LabelSupernet names the NAD's supernet.
	LabelSupernet = "sdp.skao.int/supernet"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// RepoFile finds a file by its path from the repository root, looking up
// from the working directory.
func RepoFile(tb testing.TB, rel string) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("%s not found above the working directory", rel)
		}
		dir = parent
	}
}

// Objects decodes every object in a YAML file.
func Objects(tb testing.TB, path string) []*unstructured.Unstructured {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			tb.Fatalf("%s: %v", path, err)
		}
		if len(obj) > 0 {
			out = append(out, &unstructured.Unstructured{Object: obj})
		}
	}
}

// InstallCRD creates the NAD CRD from deploy/ (unless it exists) and waits
// until it is established and its resource is served.
func InstallCRD(tb testing.TB, cfg *rest.Config) {
	tb.Helper()
	dyn := dynamic.NewForConfigOrDie(cfg)
	ctx := context.Background()
	for _, crd := range Objects(tb, RepoFile(tb, CRDFile)) {
		if _, err := dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			tb.Fatalf("create CRD %s: %v", crd.GetName(), err)
		}
	}
	if err := manifests.WaitEstablished(ctx, dyn, GVR.GroupResource().String()); err != nil {
		tb.Fatalf("NAD CRD: %v", err)
	}
	// Established can come a moment before the resource is served.
	eventually.Eventually(tb, 30*time.Second, func() error {
		_, err := dyn.Resource(GVR).List(ctx, metav1.ListOptions{Limit: 1})
		return err
	})
}

// NAD builds a NetworkAttachmentDefinition object.
func NAD(namespace, name string, labels map[string]string, config string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.cni.cncf.io/v1",
		"kind":       "NetworkAttachmentDefinition",
		"metadata":   map[string]any{"name": name, "namespace": namespace},
		"spec":       map[string]any{"config": config},
	}}
	u.SetLabels(labels)
	return u
}

// Labels are a mirrored NAD's labels; supernet "" leaves that label off.
func Labels(supernet string) map[string]string {
	l := map[string]string{LabelAvailable: "true"}
	if supernet != "" {
		l[LabelSupernet] = supernet
	}
	return l
}
