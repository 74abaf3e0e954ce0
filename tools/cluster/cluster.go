//go:build linux

// Package cluster runs the Helm Deployer on the local control plane's real
// nodes as a site runs it (make run-cluster, tests/node): the project's
// images built and imported into two real nodes (testkit/localcp,
// RealNodes), deploy/ applied, the example charts served as a chart
// repository, and the umbrella chart installed with Helm's SDK — the
// services as pods, two replicas each, on the nodes' host network, reaching
// the API server and the config DB at the loopback addresses the nodes
// forward. See docs/architecture.md, "The local control plane".
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/settings"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/manifests"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

// Namespaces: the services' and the processing namespace they deploy to
// (deploy/namespace.yaml's).
const (
	SystemNS     = "sdp-system"
	ProcessingNS = "sdp"
	ReleaseName  = "sdp-helmdeploy"
)

// Service is one of the three services and the port it serves /metrics,
// /healthz and /readyz on: they share each node's network namespace (host
// network), so each has its own.
type Service struct {
	Name string
	Port int
}

// Services are the three, with their ports.
var Services = []Service{
	{"release-manager", 18081},
	{"pod-monitor", 18082},
	{"resource-monitor", 18083},
}

// Options say how to run the cluster.
type Options struct {
	// Root is the repository root (charts/, deploy/, services/).
	Root string
	// Dir is the work directory: images, the control plane, logs.
	Dir string
	// Nodes is the number of real nodes (default 2), Replicas that of
	// each service (default Nodes; at most one per node, as they share
	// the node's ports).
	Nodes, Replicas int
	Log             *slog.Logger
}

// Cluster is a running cluster with the umbrella chart installed.
type Cluster struct {
	CP      *localcp.ControlPlane
	Client  kubernetes.Interface
	Store   *configdb.Store
	RepoURL string
	// Images are the tarballs imported into the nodes.
	Images []string
	// Took says how long each step of Start took.
	Took struct{ Images, ControlPlane, Umbrella time.Duration }

	closers []func()
}

// Start builds the images, starts the control plane with its real nodes,
// installs the umbrella chart and waits for every service pod to be Ready.
// Stop undoes it all; on an error Start has undone it already.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	if o.Nodes == 0 {
		o.Nodes = 2
	}
	if o.Replicas == 0 {
		o.Replicas = o.Nodes
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	// Every return below is (nil, err) on failure: undo through a name of
	// its own, not the result c, which such a return has set to nil.
	started := &Cluster{}
	c = started
	defer func() {
		if err != nil {
			started.Stop()
		}
	}()
	t := time.Now()
	if c.Images, err = BuildImages(ctx, o.Root, filepath.Join(o.Dir, "images")); err != nil {
		return nil, err
	}
	c.Took.Images = time.Since(t)
	o.Log.Info("images built", "images", len(c.Images), "took", c.Took.Images.Round(time.Millisecond))

	// The control plane outlives ctx until Stop, so that the services are
	// stopped with their nodes while the API server still answers.
	c.CP, err = localcp.Start(context.WithoutCancel(ctx), localcp.Options{
		Dir: filepath.Join(o.Dir, "controlplane"), KeepDir: true, Logger: o.Log,
		ControllerManager: true, Scheduler: true,
		RealNodes: o.Nodes, NodeImages: c.Images, SandboxImage: Image("pause"),
	})
	if err != nil {
		return nil, err
	}
	c.closers = append(c.closers, func() {
		if err := c.CP.Stop(); err != nil {
			o.Log.Warn("stop the control plane", "error", err)
		}
	})
	c.Took.ControlPlane = c.CP.StartupDuration
	o.Log.Info("control plane and real nodes ready", "nodes", o.Nodes, "took", c.CP.StartupDuration.Round(time.Millisecond))
	if c.Client, err = kubernetes.NewForConfig(c.CP.RESTConfig()); err != nil {
		return nil, err
	}

	host, port, _ := strings.Cut(strings.TrimPrefix(c.CP.EtcdEndpoint, "http://"), ":")
	cenv := settings.Default()
	cenv.ConfigHost = host
	if cenv.ConfigPort, err = strconv.Atoi(port); err != nil {
		return nil, err
	}
	client, err := settings.NewClient(cenv)
	if err != nil {
		return nil, err
	}
	c.closers = append(c.closers, func() { client.Close() })
	if c.Store, err = configdb.NewStore(client, ""); err != nil {
		return nil, err
	}

	url, stopRepo, err := testrepo.ServeCharts(filepath.Join(o.Root, "charts", "examples"), filepath.Join(o.Dir, "charts"))
	if err != nil {
		return nil, err
	}
	c.RepoURL = url
	c.closers = append(c.closers, stopRepo)
	for _, n := range c.CP.Nodes() {
		if err := n.ForwardIn(localcp.PortOf(url)); err != nil {
			return nil, err
		}
		for _, s := range Services {
			if err := n.Expose(s.Port); err != nil {
				return nil, err
			}
		}
	}

	if err := manifests.Apply(ctx, c.CP.RESTConfig(), filepath.Join(o.Root, "deploy"), o.Log); err != nil {
		return nil, err
	}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: SystemNS}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	t = time.Now()
	cfg, err := helmConfig(c.CP.KubeconfigPath, SystemNS, filepath.Join(o.Dir, "helm-cache"), o.Log)
	if err != nil {
		return nil, err
	}
	if err := InstallUmbrella(ctx, cfg, o.Root, UmbrellaValues(c.CP, url, o.Replicas)); err != nil {
		return nil, err
	}
	if err := c.WaitServicesReady(ctx, o.Replicas, 3*time.Minute); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, c.Describe(ctx))
	}
	c.Took.Umbrella = time.Since(t)
	o.Log.Info("umbrella chart installed, every service pod Ready", "took", c.Took.Umbrella.Round(time.Millisecond))
	return c, nil
}

// Stop stops everything Start started, in reverse order.
func (c *Cluster) Stop() {
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i]()
	}
	c.closers = nil
}

// helmConfig is Helm's SDK configuration for namespace ns, release records
// in Secrets, without the CLI's environment ($HOME, the user's
// kubeconfig).
func helmConfig(kubeconfig, ns, cacheDir string, log *slog.Logger) (*action.Configuration, error) {
	getter := genericclioptions.NewConfigFlags(false)
	getter.KubeConfig, getter.Namespace, getter.CacheDir = &kubeconfig, &ns, &cacheDir
	logf := func(format string, v ...any) { log.Debug(fmt.Sprintf(format, v...)) }
	kc := kube.New(getter)
	kc.Namespace = ns
	kc.Log = logf
	cs, err := kc.Factory.KubernetesClientSet()
	if err != nil {
		return nil, err
	}
	secrets := driver.NewSecrets(cs.CoreV1().Secrets(ns))
	secrets.Log = logf
	return &action.Configuration{
		RESTClientGetter: getter,
		Releases:         storage.Init(secrets),
		KubeClient:       kc,
		Log:              logf,
		HookOutputFunc:   func(_, _, _ string) io.Writer { return io.Discard },
	}, nil
}

// UmbrellaValues are the umbrella chart's values for the real nodes: the
// project's images (never pulled), the replicas of each service on the
// real nodes' host network, the config DB and the API server at the
// loopback addresses the nodes forward, and the chart repository.
func UmbrellaValues(cp *localcp.ControlPlane, chartRepo string, replicas int) map[string]any {
	v := map[string]any{
		"global": map[string]any{
			"configDB":  map[string]any{"host": "127.0.0.1", "port": localcp.PortOf(cp.EtcdEndpoint)},
			"helm":      map[string]any{"namespace": ProcessingNS},
			"apiServer": map[string]any{"host": "127.0.0.1", "port": strconv.Itoa(localcp.PortOf(cp.APIServerURL))},
		},
	}
	for _, s := range Services {
		sv := map[string]any{
			"replicas":    replicas,
			"hostNetwork": true,
			"httpPort":    s.Port,
			"service":     map[string]any{"port": s.Port},
			"image": map[string]any{
				"repository": "sdp-helmdeploy/" + s.Name,
				"tag":        ImageTag,
				"pullPolicy": "Never",
			},
			"nodeSelector": map[string]any{localcp.RealNodeLabel: localcp.RealNodeLabelValue},
		}
		if s.Name == "release-manager" {
			sv["chartRepo"] = map[string]any{"url": chartRepo, "refresh": 10}
		}
		v[s.Name] = sv
	}
	return v
}

// InstallUmbrella installs the umbrella chart from root/charts with Helm's
// SDK, as a site would with `helm install`.
func InstallUmbrella(ctx context.Context, cfg *action.Configuration, root string, values map[string]any) error {
	ch, err := loader.Load(filepath.Join(root, "charts", "sdp-helmdeploy"))
	if err != nil {
		return fmt.Errorf("load the umbrella chart: %w", err)
	}
	in := action.NewInstall(cfg)
	in.ReleaseName = ReleaseName
	in.Namespace = SystemNS
	in.Timeout = 2 * time.Minute
	if _, err := in.RunWithContext(ctx, ch, values); err != nil {
		return fmt.Errorf("install the umbrella chart: %w", err)
	}
	return nil
}

// ServicePods are the pods of one service, by the chart's labels.
func (c *Cluster) ServicePods(ctx context.Context, service string) ([]corev1.Pod, error) {
	l, err := c.Client.CoreV1().Pods(SystemNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + service})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// WaitServicesReady waits until every service has replicas pods, all
// Ready.
func (c *Cluster) WaitServicesReady(ctx context.Context, replicas int, timeout time.Duration) error {
	return eventually.Poll(ctx, timeout, 500*time.Millisecond, func(ctx context.Context) error {
		var errs []error
		for _, s := range Services {
			pods, err := c.ServicePods(ctx, s.Name)
			if err != nil {
				return err
			}
			ready := 0
			for i := range pods {
				if Ready(&pods[i]) {
					ready++
				}
			}
			if ready != replicas || len(pods) != replicas {
				errs = append(errs, fmt.Errorf("%s: %d of %d pods ready, want %d", s.Name, ready, len(pods), replicas))
			}
		}
		return errors.Join(errs...)
	})
}

// Ready says whether a pod's Ready condition is true.
func Ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// NodeAddr is where the host reaches a port of a real node's network
// namespace (a host-network pod's); "" for another node.
func (c *Cluster) NodeAddr(node string, port int) string {
	for _, n := range c.CP.Nodes() {
		if n.Name == node {
			return n.IP + ":" + strconv.Itoa(port)
		}
	}
	return ""
}

// Leader asks a replica, at the address its node exposes, whether it
// leads (the sdp_helmdeploy_leader gauge of its /metrics).
func Leader(ctx context.Context, addr string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "sdp_helmdeploy_leader "); ok {
			return strings.TrimSpace(v) == "1", nil
		}
	}
	return false, fmt.Errorf("%s/metrics: no sdp_helmdeploy_leader", addr)
}

// ScrapeTargets are the services' pods as Prometheus scrape targets, by
// service: each node's address for the service's port.
func (c *Cluster) ScrapeTargets() map[string][]string {
	t := map[string][]string{}
	for _, s := range Services {
		for _, n := range c.CP.Nodes() {
			t[s.Name] = append(t[s.Name], n.IP+":"+strconv.Itoa(s.Port))
		}
	}
	return t
}

// Describe says what the service pods are doing, with the last lines of
// their containers' logs: for an error that must say why they are not
// Ready.
func (c *Cluster) Describe(ctx context.Context) string {
	var b strings.Builder
	l, err := c.Client.CoreV1().Pods(SystemNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	for _, p := range l.Items {
		fmt.Fprintf(&b, "pod %s on %q: %s", p.Name, p.Spec.NodeName, p.Status.Phase)
		for _, cond := range p.Status.Conditions {
			if cond.Status != corev1.ConditionTrue {
				fmt.Fprintf(&b, "; %s=%s %s %s", cond.Type, cond.Status, cond.Reason, cond.Message)
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, "; container %s ready=%v restarts=%d", cs.Name, cs.Ready, cs.RestartCount)
			if w := cs.State.Waiting; w != nil {
				fmt.Fprintf(&b, " waiting %s: %s", w.Reason, w.Message)
			}
			if t := cs.LastTerminationState.Terminated; t != nil {
				fmt.Fprintf(&b, " last exit %d %s", t.ExitCode, t.Reason)
			}
		}
		b.WriteString("\n")
	}
	for _, n := range c.CP.Nodes() {
		logs, _ := filepath.Glob(filepath.Join(n.PodLogsDir(), SystemNS+"_*", "*", "*.log"))
		for _, f := range logs {
			data, _ := os.ReadFile(f)
			lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
			if len(lines) > 10 {
				lines = lines[len(lines)-10:]
			}
			fmt.Fprintf(&b, "--- %s\n%s\n", f, strings.Join(lines, "\n"))
		}
	}
	return b.String()
}
