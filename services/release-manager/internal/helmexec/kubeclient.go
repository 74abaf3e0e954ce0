package helmexec

import (
	"fmt"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/kube"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/kubectl/pkg/validation"
)

// cachedValidatorFactory builds each validator once. Helm's kube.Client asks
// its factory for a new validator on every Build, and each new one starts
// with an empty OpenAPI cache, so every install would download the OpenAPI
// documents again: measured here as the single largest cost of an install
// (docs/benchmarks/release-manager.md). Validation stays on; only the download is shared.
// The validators are shared by the factories of every action's client.
type cachedValidatorFactory struct {
	kube.Factory
	cache *validators
}

type validators struct {
	mu sync.Mutex
	by map[string]validation.Schema
}

func (f *cachedValidatorFactory) Validator(directive string) (validation.Schema, error) {
	c := f.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.by[directive]; ok {
		return v, nil
	}
	v, err := f.Factory.Validator(directive)
	if err != nil {
		return nil, err
	}
	if c.by == nil {
		c.by = map[string]validation.Schema{}
	}
	c.by[directive] = v
	return v, nil
}

// kubeClient is Helm's client with IsReachable remembered for a moment:
// Helm calls it (a GET /version) before every install and upgrade, which
// with hundreds of releases is hundreds of calls that say nothing new.
// Embedding keeps every optional interface Helm type-asserts for.
type kubeClient struct {
	*kube.Client
	// reach is shared by every action's client.
	reach *reachability
}

type reachability struct {
	mu sync.Mutex
	at time.Time
}

// newKubeClient is Helm's client over getter, with the shared validators
// and reachability.
func newKubeClient(g genericclioptions.RESTClientGetter, namespace string, vs *validators, reach *reachability) *kubeClient {
	kc := kube.New(g)
	kc.Namespace = namespace
	kc.Factory = &cachedValidatorFactory{Factory: kc.Factory, cache: vs}
	return &kubeClient{Client: kc, reach: reach}
}

const reachableFor = 2 * time.Second

func (c *kubeClient) IsReachable() error {
	r := c.reach
	r.mu.Lock()
	fresh := time.Since(r.at) < reachableFor
	r.mu.Unlock()
	if fresh {
		return nil
	}
	if err := c.Client.IsReachable(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	r.mu.Lock()
	r.at = time.Now()
	r.mu.Unlock()
	return nil
}
