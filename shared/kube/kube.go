// Package kube builds the Kubernetes client configuration the services
// share: in-cluster when running in a pod, else a kubeconfig file.
//
// Each service's app builds its informers and the Helm client from it;
// its write guard is the third fence of docs/architecture.md, §6. Fencing.
package kube

import (
	"flag"
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options are the Kubernetes client settings of a service.
type Options struct {
	// Kubeconfig is a kubeconfig file; empty means $KUBECONFIG, then
	// in-cluster.
	Kubeconfig string
	// QPS and Burst bound the client's request rate. client-go's defaults
	// (5/10) throttle a controller that acts on hundreds of objects, and
	// even 200/s capped the release-manager at 90 releases/s; the API
	// server's own priority and fairness is the real guard.
	QPS   float64
	Burst int
	// Timeout bounds each request (see DefaultTimeout); informers use
	// ForWatches.
	Timeout time.Duration
}

// Bind registers the options on fs.
func (o *Options) Bind(fs *flag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else in-cluster)")
	fs.Float64Var(&o.QPS, "kube-qps", 1000, "Kubernetes API requests per second, per client")
	fs.IntVar(&o.Burst, "kube-burst", 2000, "Kubernetes API request burst, per client")
	fs.DurationVar(&o.Timeout, "kube-timeout", DefaultTimeout, "time limit of one Kubernetes API request, watches excepted (0: none)")
}

// RESTConfig returns the client configuration the options name.
func (o Options) RESTConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes client config: %w", err)
	}
	if o.QPS > 0 {
		cfg.QPS = float32(o.QPS)
	}
	if o.Burst > 0 {
		cfg.Burst = o.Burst
	}
	if o.Timeout > 0 {
		cfg.Timeout = o.Timeout
	}
	return cfg, nil
}
