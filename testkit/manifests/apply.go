// Package manifests applies the manifests of a folder (deploy/, a chart's
// rendering) to a test cluster, namespaces and CRDs first, as a cluster
// admin would before the services are installed. It is part of the test
// kit, which requires nothing of the product;
// docs/architecture.md, §1. The rooms.
package manifests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// Apply creates every Kubernetes object in the YAML files under dir
// (recursively; documents with neither apiVersion nor kind are other tools'
// files and are skipped):
// namespaces first, then CRDs (waiting until they are established), then
// the rest. Objects that exist already are left as they are.
func Apply(ctx context.Context, cfg *rest.Config, dir string, log *slog.Logger) error {
	var objs []*unstructured.Unstructured
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		found, err := decodeAll(data)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		objs = append(objs, found...)
		return nil
	})
	if err != nil {
		return err
	}
	rank := func(u *unstructured.Unstructured) int {
		switch u.GetKind() {
		case "Namespace":
			return 0
		case "CustomResourceDefinition":
			return 1
		}
		return 2
	}
	sort.SliceStable(objs, func(i, j int) bool { return rank(objs[i]) < rank(objs[j]) })
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	cached := memory.NewMemCacheClient(dc)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cached)
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, u := range objs {
		gvk := u.GroupVersionKind()
		var m *meta.RESTMapping
		// A CRD applied a moment ago takes a moment to be served.
		deadline := time.Now().Add(30 * time.Second)
		for {
			m, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err == nil || time.Now().After(deadline) {
				break
			}
			mapper.Reset()
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", gvk.Kind, u.GetName(), err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ns := u.GetNamespace()
			if ns == "" {
				ns = "default"
			}
			ri = dyn.Resource(m.Resource).Namespace(ns)
		}
		if _, err := ri.Create(ctx, u, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %s %s: %w", gvk.Kind, u.GetName(), err)
		}
		log.Info("applied", "kind", gvk.Kind, "namespace", u.GetNamespace(), "name", u.GetName())
		if gvk.Kind == "CustomResourceDefinition" {
			if err := WaitEstablished(ctx, dyn, u.GetName()); err != nil {
				return err
			}
			mapper.Reset()
		}
	}
	return nil
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// WaitEstablished waits (up to 30 s) until the CRD called name is
// Established, so that objects of its kind can be created.
func WaitEstablished(ctx context.Context, dyn dynamic.Interface, name string) error {
	err := eventually.Poll(ctx, 30*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
		u, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
				return nil
			}
		}
		return errors.New("not established")
	})
	if err != nil {
		return fmt.Errorf("CRD %s: %w", name, err)
	}
	return nil
}

func decodeAll(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(obj) == 0 {
			continue
		}
		_, hasAPI := obj["apiVersion"]
		_, hasKind := obj["kind"]
		switch {
		case !hasAPI && !hasKind:
			// Not a Kubernetes object: deploy/ also holds Prometheus rule
			// files and their tests, which are not applied to a cluster.
			continue
		case !hasAPI || !hasKind:
			return nil, errors.New("an object without apiVersion or kind")
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
}
