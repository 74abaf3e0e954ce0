// Package demo runs the whole Helm Deployer on one machine, as `make run`
// does: the local control plane (etcd, kube-apiserver, controller manager,
// scheduler, kwok), deploy/ applied, a chart repository of the example
// charts on loopback, the three service binaries, and a demo deployment
// whose state entry is printed each time it changes. Every process it
// starts is stopped by its PID when the context ends.
package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/settings"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/manifests"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/proc"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/prometheus"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

// Services are the binaries started, in order.
var Services = []string{"release-manager", "pod-monitor", "resource-monitor"}

// Options configure a demo run.
type Options struct {
	// Root is the repository root (deploy/, charts/examples/).
	Root string
	// BinDir holds the service binaries (make build puts them in bin/).
	BinDir string
	// Dir is the work directory for logs, kubeconfig and the chart repo.
	Dir string
	// Namespace is the processing namespace (deploy/namespace.yaml's).
	Namespace string
	// Deployment is the demo deployment's id and chart.
	Deployment, Chart string
	// UntilRunning ends the run, successfully, once a pod of the demo
	// deployment is RUNNING and the example networks are mirrored: for
	// tests and CI. Otherwise it runs until the context ends.
	UntilRunning bool
	Out          io.Writer
	Log          *slog.Logger
}

// Run runs the demo until ctx ends (or, with UntilRunning, until done).
func Run(ctx context.Context, o Options) (err error) {
	if o.Namespace == "" {
		o.Namespace = "sdp"
	}
	if o.Deployment == "" {
		o.Deployment, o.Chart = "demo-receive", "demo-receive"
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "logs"), 0o755); err != nil {
		return err
	}
	o.Log.Info("starting the local control plane")
	// The control plane outlives ctx until the deferred Stop, so that the
	// services are stopped first, while the API server they talk to is up.
	cp, err := localcp.Start(context.WithoutCancel(ctx), localcp.Options{Dir: filepath.Join(o.Dir, "controlplane"), Logger: o.Log}.All())
	if err != nil {
		return fmt.Errorf("local control plane: %w", err)
	}
	defer func() {
		if serr := cp.Stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	if err := manifests.Apply(ctx, cp.RESTConfig(), filepath.Join(o.Root, "deploy"), o.Log); err != nil {
		return err
	}
	repoURL, stopRepo, err := testrepo.ServeCharts(filepath.Join(o.Root, "charts", "examples"), filepath.Join(o.Dir, "charts"))
	if err != nil {
		return err
	}
	defer stopRepo()
	o.Log.Info("chart repository serving", "url", repoURL)

	env := append(cp.Env(), "SDP_HELM_NAMESPACE="+o.Namespace, "SDP_CHART_REPO_URL="+repoURL, "SDP_CHART_REPO_REFRESH=10")
	var procs []*service
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].stop(o.Log)
		}
	}()
	for _, name := range Services {
		bin := filepath.Join(o.BinDir, name)
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("service binary %s missing (make build): %w", bin, err)
		}
		p, err := startService(name, bin, env, filepath.Join(o.Dir, "logs", name+".log"))
		if err != nil {
			return err
		}
		procs = append(procs, p)
		o.Log.Info("service started", "service", name, "pid", p.PID(), "http", p.addr, "log", p.LogPath)
	}
	prom, err := startPrometheus(ctx, o, procs)
	if err != nil {
		return err
	}
	defer func() { _ = prom.Stop() }()

	host, port, _ := strings.Cut(strings.TrimPrefix(cp.EtcdEndpoint, "http://"), ":")
	cenv := settings.Default()
	cenv.ConfigHost = host
	fmt.Sscanf(port, "%d", &cenv.ConfigPort)
	client, err := settings.NewClient(cenv)
	if err != nil {
		return err
	}
	defer client.Close()
	store, err := configdb.NewStore(client, "")
	if err != nil {
		return err
	}
	d := configdb.Deployment{ID: o.Deployment, Kind: configdb.KindHelm, Chart: o.Chart, Values: map[string]any{"replicas": 1}}
	if err := store.PutDeployment(ctx, d); err != nil {
		return fmt.Errorf("write the demo deployment: %w", err)
	}
	fmt.Fprintf(o.Out, "demo deployment written: /deploy/%s (chart %s); KUBECONFIG=%s\nwatching /deploy/%s/state (Ctrl-C stops everything)\n",
		d.ID, d.Chart, cp.KubeconfigPath, d.ID)
	return watch(ctx, o, store, procs)
}

// watch prints the state entry and the resource entries whenever they
// change, and checks that the services stay up.
func watch(ctx context.Context, o Options, store *configdb.Store, procs []*service) error {
	var lastState, lastResources string
	running, mirrored := false, false
	exited := anyExited(procs)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-exited:
			for _, p := range procs {
				if p.Exited() {
					return fmt.Errorf("service %s exited (%v); see %s", p.Name, p.Err(), p.LogPath)
				}
			}
		case <-tick.C:
		}
		st, found, err := store.GetState(ctx, o.Deployment)
		if err == nil && found {
			b, _ := json.MarshalIndent(st, "", "  ")
			if s := string(b); s != lastState {
				lastState = s
				fmt.Fprintf(o.Out, "%s /deploy/%s/state\n%s\n", time.Now().Format("15:04:05.000"), o.Deployment, s)
			}
			for _, s := range st.Pods {
				if s == configdb.PodRunning {
					running = true
				}
			}
		}
		if list, err := store.ListResources(ctx); err == nil {
			ids := make([]string, 0, len(list.Resources))
			for id := range list.Resources {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			var b strings.Builder
			for _, id := range ids {
				j, _ := json.Marshal(list.Resources[id])
				fmt.Fprintf(&b, "  /resource/%s %s\n", id, j)
			}
			if s := b.String(); s != lastResources {
				lastResources = s
				fmt.Fprintf(o.Out, "%s /resource/ entries\n%s", time.Now().Format("15:04:05.000"), s)
			}
			mirrored = len(ids) > 0
		}
		if o.UntilRunning && running && mirrored {
			fmt.Fprintln(o.Out, "demo: the deployment's pod is RUNNING and the networks are mirrored")
			return nil
		}
	}
}

// anyExited returns a channel closed when any of the processes exits.
func anyExited(procs []*service) <-chan struct{} {
	ch := make(chan struct{})
	var once sync.Once
	for _, p := range procs {
		go func() {
			<-p.Done()
			once.Do(func() { close(ch) })
		}()
	}
	return ch
}

// service is a started service binary and the address it serves on.
type service struct {
	*proc.Process
	addr string
}

func startService(name, bin string, env []string, logPath string) (*service, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// A fresh log each run: the work directory is kept between runs.
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		return nil, err
	}
	p, err := proc.Start(proc.Options{Name: name, Bin: bin, Args: []string{"--http-addr=" + addr}, Env: append(os.Environ(), env...), LogPath: logPath})
	if err != nil {
		return nil, err
	}
	return &service{Process: p, addr: addr}, nil
}

// stop stops the service by its PID: SIGTERM, then SIGKILL after 15 s.
func (p *service) stop(log *slog.Logger) {
	if p.Exited() {
		return
	}
	if err := p.Stop(15 * time.Second); err != nil {
		log.Warn("service killed", "service", p.Name, "reason", err)
	}
	log.Info("service stopped", "service", p.Name, "pid", p.PID(), "result", fmt.Sprint(p.Err()))
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startPrometheus scrapes the three services with the shipped alert rules,
// so that a newcomer can watch the deployer work in graphs. It listens on
// loopback only and is stopped by its PID with the rest.
func startPrometheus(ctx context.Context, o Options, procs []*service) (*prometheus.Server, error) {
	targets := map[string][]string{}
	for i, name := range Services {
		targets[name] = []string{procs[i].addr}
	}
	srv, err := prometheus.Start(ctx, prometheus.Options{
		Dir:            filepath.Join(o.Dir, "prometheus"),
		Targets:        targets,
		RuleFiles:      []string{filepath.Join(o.Root, "deploy", "prometheus", "sdp-helmdeploy-rules.yaml")},
		ScrapeInterval: 5 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("prometheus (make prometheus-binaries installs it): %w", err)
	}
	o.Log.Info("prometheus started", "pid", srv.PID(), "log", srv.LogPath())
	if o.UntilRunning {
		// Tests and CI see that the services are really scraped.
		if err := srv.WaitScraped(ctx); err != nil {
			_ = srv.Stop()
			return nil, fmt.Errorf("prometheus scraping the services: %w", err)
		}
		fmt.Fprintln(o.Out, "prometheus: every service scraped")
	}
	fmt.Fprintf(o.Out, "prometheus: %s (graphs: %s/graph, alerts: %s/alerts)\n", srv.URL(), srv.URL(), srv.URL())
	return srv, nil
}
