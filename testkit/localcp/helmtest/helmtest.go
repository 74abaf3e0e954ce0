//go:build unix

// Package helmtest gives tests a Helm SDK configuration for a local control
// plane. It is apart from cptest so that the modules whose tests use the
// control plane but not Helm (pod-monitor, resource-monitor) do not get the
// Helm SDK in their module graph.
package helmtest

import (
	"io"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
)

// HelmConfig builds a Helm v3 action.Configuration for namespace ns of the
// control plane, release records in Secrets, logging to the test. Helm v3
// has no constructor for one short of its CLI's environment, which would
// read $HOME and the user's kubeconfig; the discovery cache goes to a
// temporary directory for the same reason.
func HelmConfig(t testing.TB, cp *localcp.ControlPlane, ns string) *action.Configuration {
	t.Helper()
	getter := genericclioptions.NewConfigFlags(false)
	kubeconfig, cacheDir := cp.KubeconfigPath, t.TempDir()
	getter.KubeConfig, getter.Namespace, getter.CacheDir = &kubeconfig, &ns, &cacheDir

	kc := kube.New(getter)
	kc.Namespace = ns
	kc.Log = t.Logf

	cs, err := kc.Factory.KubernetesClientSet()
	if err != nil {
		t.Fatal(err)
	}
	secrets := driver.NewSecrets(cs.CoreV1().Secrets(ns))
	secrets.Log = t.Logf
	return &action.Configuration{
		RESTClientGetter: getter,
		Releases:         storage.Init(secrets),
		KubeClient:       kc,
		Log:              t.Logf,
		HookOutputFunc:   func(_, _, _ string) io.Writer { return io.Discard },
	}
}
