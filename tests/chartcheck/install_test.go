//go:build unix

package chartcheck

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/release"
	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/restmapper"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/helmtest"
)

func TestMain(m *testing.M) {
	// Helm's chart loader logs each linked library chart through the
	// standard logger: noise here, where the links are meant.
	log.SetOutput(io.Discard)
	dir, err := os.MkdirTemp("", "chartcheck-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := cptest.Main(m, localcp.Options{})
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// Namespaces of the install test: where the services run, where they
// deploy (SDP_HELM_NAMESPACE), and one that is neither.
const (
	systemNS     = "chartcheck-system"
	processingNS = "chartcheck-sdp"
	otherNS      = "chartcheck-other"
	releaseName  = "sdp"
)

func createNamespaces(t *testing.T, cs kubernetes.Interface, names ...string) {
	t.Helper()
	for _, ns := range names {
		_, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create namespace %s: %v", ns, err)
		}
	}
}

var umbrellaSet = []string{
	"global.helm.namespace=" + processingNS,
	"global.configDB.host=etcd." + systemNS,
	"global.configDB.existingSecret=etcd-credentials",
	"global.configDB.tls.secretName=etcd-ca",
	"release-manager.replicas=2", // and so its PodDisruptionBudget and anti-affinity
}

// The umbrella chart's objects are accepted by the real API server with
// strict field validation (a server-side dry run, so an unknown or
// misplaced field is an error, not dropped), and the chart installs with
// the Helm SDK: its Deployments exist. Then the RBAC matrix of the three
// ServiceAccounts it created is checked against the API server.
func TestInstallUmbrella(t *testing.T) {
	cp := cptest.Get(t)
	cfg := cp.RESTConfig()
	cs := kubernetes.NewForConfigOrDie(cfg)
	createNamespaces(t, cs, systemNS, processingNS, otherNS)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("server-side validation", func(t *testing.T) {
		r, err := Render(chartDir(umbrella), Options{Release: releaseName, Namespace: systemNS, Set: umbrellaSet})
		if err != nil {
			t.Fatal(err)
		}
		dyn := dynamic.NewForConfigOrDie(cfg)
		mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(cfg)))
		for _, obj := range r.Objects {
			u := toUnstructured(t, obj)
			gvk := u.GroupVersionKind()
			mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				t.Errorf("%s %s: %v", gvk.Kind, u.GetName(), err)
				continue
			}
			var ri dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
			if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
				ns := u.GetNamespace()
				if ns == "" {
					ns = systemNS
				}
				ri = dyn.Resource(mapping.Resource).Namespace(ns)
			}
			if _, err := ri.Create(ctx, u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"}); err != nil {
				t.Errorf("%s %s refused by the API server: %v", gvk.Kind, u.GetName(), err)
			}
		}
	})

	t.Run("helm install", func(t *testing.T) {
		installUmbrella(t, cp, umbrellaSet)
		for _, svc := range services {
			name := releaseName + "-" + svc
			d, err := cs.AppsV1().Deployments(systemNS).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Errorf("deployment %s: %v", name, err)
				continue
			}
			if c := d.Spec.Template.Spec.Containers; len(c) != 1 || c[0].Name != svc || d.Spec.Template.Spec.ServiceAccountName != name {
				t.Errorf("deployment %s: containers %v, service account %s", name, c, d.Spec.Template.Spec.ServiceAccountName)
			}
			// What the API server stored keeps the restricted context
			// (admission did not drop or default it away).
			sc := d.Spec.Template.Spec.Containers[0].SecurityContext
			if sc == nil || !isTrue(sc.ReadOnlyRootFilesystem) || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("deployment %s: stored securityContext %+v", name, sc)
			}
			if _, err := cs.CoreV1().ServiceAccounts(systemNS).Get(ctx, name, metav1.GetOptions{}); err != nil {
				t.Errorf("service account %s: %v", name, err)
			}
		}
		if _, err := cs.PolicyV1().PodDisruptionBudgets(systemNS).Get(ctx, releaseName+"-release-manager", metav1.GetOptions{}); err != nil {
			t.Errorf("PodDisruptionBudget of release-manager: %v", err)
		}
		for _, svc := range []string{"release-manager", "pod-monitor"} {
			if _, err := cs.RbacV1().Roles(processingNS).Get(ctx, releaseName+"-"+svc, metav1.GetOptions{}); err != nil {
				t.Errorf("role of %s in the processing namespace: %v", svc, err)
			}
		}
	})
	if t.Failed() {
		return
	}

	t.Run("rbac", func(t *testing.T) { checkRBACMatrix(t, cs) })
}

// installUmbrella installs the umbrella chart as release sdp in systemNS
// with the Helm SDK, for real, replacing a release of an earlier test or
// run in the same control plane.
func installUmbrella(t *testing.T, cp *localcp.ControlPlane, set []string) {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(cp.RESTConfig())
	createNamespaces(t, cs, systemNS, processingNS, otherNS)
	ch, err := loader.Load(chartDir(umbrella))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := Values(set...)
	if err != nil {
		t.Fatal(err)
	}
	hc := helmtest.HelmConfig(t, cp, systemNS)
	if _, err := action.NewGet(hc).Run(releaseName); err == nil {
		if _, err := action.NewUninstall(hc).Run(releaseName); err != nil {
			t.Fatalf("uninstall the earlier release: %v", err)
		}
	}
	inst := action.NewInstall(hc)
	inst.ReleaseName, inst.Namespace, inst.Timeout = releaseName, systemNS, time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rel, err := inst.RunWithContext(ctx, ch, vals)
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	if rel.Info.Status != release.StatusDeployed {
		t.Fatalf("release %s", rel.Info.Status)
	}
}

func toUnstructured(t *testing.T, obj k8sruntime.Object) *unstructured.Unstructured {
	t.Helper()
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u
	}
	m, err := k8sruntime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	// Typed objects decoded from YAML keep their kind only in the manifest.
	gvks, _, err := scheme.Scheme.ObjectKinds(obj)
	if err != nil || len(gvks) == 0 {
		t.Fatalf("kind of %T: %v", obj, err)
	}
	u.SetGroupVersionKind(gvks[0])
	return u
}

type access struct {
	sa        string // service name; its ServiceAccount is <release>-<service>
	verb      string
	group     string
	resource  string
	namespace string // "" = cluster-wide (all namespaces, or a cluster-scoped resource)
	allowed   bool
}

// The matrix: what each ServiceAccount may and may not do, asked of the
// API server's authorizer (RBAC) through SubjectAccessReviews.
func checkRBACMatrix(t *testing.T, cs kubernetes.Interface) {
	const rm, pm, res = "release-manager", "pod-monitor", "resource-monitor"
	const nad = "network-attachment-definitions"
	var matrix []access
	// release-manager: everything in the processing namespace ...
	for _, r := range []struct{ group, resource string }{
		{"apps", "deployments"}, {"", "secrets"}, {"", "services"}, {"", "configmaps"}, {"", "pods"},
		{"batch", "jobs"}, {"apps", "statefulsets"}, {"", "persistentvolumeclaims"}, {"k8s.cni.cncf.io", nad},
	} {
		for _, verb := range []string{"create", "delete", "get", "list", "watch", "update", "patch"} {
			matrix = append(matrix, access{rm, verb, r.group, r.resource, processingNS, true})
		}
		// ... and nothing of it anywhere else, its own namespace included.
		for _, ns := range []string{otherNS, systemNS, "kube-system", ""} {
			for _, verb := range []string{"create", "delete", "get", "list"} {
				matrix = append(matrix, access{rm, verb, r.group, r.resource, ns, false})
			}
		}
	}
	for _, r := range []struct{ verb, group, resource string }{
		{"create", "", "namespaces"}, {"delete", "", "namespaces"}, {"get", "", "namespaces"},
		{"create", "rbac.authorization.k8s.io", "clusterroles"}, {"create", "rbac.authorization.k8s.io", "clusterrolebindings"},
		{"create", "apiextensions.k8s.io", "customresourcedefinitions"}, {"list", "", "nodes"},
		{"create", "storage.k8s.io", "storageclasses"}, {"delete", "rbac.authorization.k8s.io", "clusterroles"},
	} {
		matrix = append(matrix, access{rm, r.verb, r.group, r.resource, "", false})
	}
	// ... but the allowed cluster-scoped kinds (by default PersistentVolume)
	// it may handle as Helm does.
	for _, verb := range helmVerbs {
		matrix = append(matrix, access{rm, verb, "", "persistentvolumes", "", true})
	}
	matrix = append(matrix, access{rm, "deletecollection", "", "persistentvolumes", "", false})
	// pod-monitor: reads pods of the processing namespace, nothing more.
	for _, verb := range []string{"get", "list", "watch"} {
		matrix = append(matrix,
			access{pm, verb, "", "pods", processingNS, true},
			access{pm, verb, "", "pods", otherNS, false},
			access{pm, verb, "", "pods", systemNS, false},
			access{pm, verb, "", "pods", "", false},
			access{pm, verb, "", "secrets", processingNS, false},
			access{pm, verb, "", "configmaps", processingNS, false},
			access{pm, verb, "k8s.cni.cncf.io", nad, "", false})
	}
	for _, verb := range []string{"create", "delete", "update", "patch", "deletecollection"} {
		matrix = append(matrix, access{pm, verb, "", "pods", processingNS, false})
	}
	// resource-monitor: reads NADs everywhere, nothing more.
	for _, verb := range []string{"get", "list", "watch"} {
		matrix = append(matrix,
			access{res, verb, "k8s.cni.cncf.io", nad, "", true},
			access{res, verb, "k8s.cni.cncf.io", nad, processingNS, true},
			access{res, verb, "k8s.cni.cncf.io", nad, otherNS, true},
			access{res, verb, "", "pods", processingNS, false},
			access{res, verb, "", "pods", "", false},
			access{res, verb, "", "secrets", "", false},
			access{res, verb, "apiextensions.k8s.io", "customresourcedefinitions", "", false})
	}
	for _, verb := range []string{"create", "delete", "update", "patch"} {
		matrix = append(matrix,
			access{res, verb, "k8s.cni.cncf.io", nad, processingNS, false},
			access{res, verb, "k8s.cni.cncf.io", nad, "", false})
	}

	ctx := context.Background()
	allowed := 0
	for _, a := range matrix {
		sa := releaseName + "-" + a.sa
		sar := &authv1.SubjectAccessReview{Spec: authv1.SubjectAccessReviewSpec{
			User:   fmt.Sprintf("system:serviceaccount:%s:%s", systemNS, sa),
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + systemNS, "system:authenticated"},
			ResourceAttributes: &authv1.ResourceAttributes{
				Verb: a.verb, Group: a.group, Resource: a.resource, Namespace: a.namespace,
			},
		}}
		got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("SubjectAccessReview: %v", err)
		}
		where := a.namespace
		if where == "" {
			where = "(cluster)"
		}
		if got.Status.Allowed != a.allowed {
			t.Errorf("%s %s %s.%s in %s: allowed=%v, want %v (%s)", a.sa, a.verb, a.resource, a.group, where, got.Status.Allowed, a.allowed, got.Status.Reason)
		}
		if got.Status.Allowed {
			allowed++
		}
	}
	t.Logf("%d access checks, %d allowed", len(matrix), allowed)
}
