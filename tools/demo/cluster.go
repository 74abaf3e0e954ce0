//go:build linux

package demo

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/prometheus"
	"github.com/ska-telescope/sdp-helmdeploy/tools/cluster"
)

// RunCluster runs the demo as a site runs the deployer (make run-cluster):
// the umbrella chart installed from the project's images on two real
// nodes, two replicas of each service as pods, Prometheus scraping the
// pods, and the demo deployment's receiver running in a real container.
// Everything is stopped when ctx ends: the nodes by their inits' PIDs,
// which takes every pod, mount and cgroup of theirs along.
func RunCluster(ctx context.Context, o Options) (err error) {
	if o.Deployment == "" {
		o.Deployment, o.Chart = "demo-receive", "demo-receive"
	}
	c, err := cluster.Start(ctx, cluster.Options{Root: o.Root, Dir: o.Dir, Nodes: 2, Replicas: 2, Log: o.Log})
	if err != nil {
		return err
	}
	defer c.Stop()
	for _, n := range c.CP.Nodes() {
		fmt.Fprintf(o.Out, "node %s (%s): kubelet log %s, pods' logs %s\n", n.Name, n.IP, n.LogPath("kubelet"), n.PodLogsDir())
	}
	srv, err := prometheus.Start(ctx, prometheus.Options{
		Dir:            filepath.Join(o.Dir, "prometheus"),
		Targets:        c.ScrapeTargets(),
		RuleFiles:      []string{filepath.Join(o.Root, "deploy", "prometheus", "sdp-helmdeploy-rules.yaml")},
		ScrapeInterval: 5 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("prometheus (make prometheus-binaries installs it): %w", err)
	}
	defer func() { _ = srv.Stop() }()
	if o.UntilRunning {
		if err := srv.WaitScraped(ctx); err != nil {
			return fmt.Errorf("prometheus scraping the service pods: %w", err)
		}
		fmt.Fprintln(o.Out, "prometheus: every service pod scraped")
	}
	fmt.Fprintf(o.Out, "prometheus: %s (graphs: %s/graph, alerts: %s/alerts)\n", srv.URL(), srv.URL(), srv.URL())

	d := configdb.Deployment{ID: o.Deployment, Kind: configdb.KindHelm, Chart: o.Chart, Values: map[string]any{
		"replicas":        1,
		"image":           cluster.Image("receiver"),
		"imagePullPolicy": "Never",
		"nodeSelector":    map[string]any{localcp.RealNodeLabel: localcp.RealNodeLabelValue},
	}}
	if err := c.Store.PutDeployment(ctx, d); err != nil {
		return fmt.Errorf("write the demo deployment: %w", err)
	}
	fmt.Fprintf(o.Out, "demo deployment written: /deploy/%s (chart %s); KUBECONFIG=%s\nwatching /deploy/%s/state (Ctrl-C stops everything)\n",
		d.ID, d.Chart, c.CP.KubeconfigPath, d.ID)
	return watch(ctx, o, c.Store, nil)
}
