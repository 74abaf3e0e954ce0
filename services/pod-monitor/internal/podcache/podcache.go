// Package podcache keeps the pods of the processing namespace in an
// informer cache, trimmed to what a pod status needs and indexed by the
// deployment they belong to, so that the pod-monitor computes a
// deployment's whole pods map from memory.
//
// The monitor reads it: docs/architecture.md, §4. From an entry to a release and a state, step 6.
package podcache

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/ska-telescope/sdp-helmdeploy/services/pod-monitor/internal/podstatus"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

const byDeployment = "deployment"

// Cache is the trimmed, indexed pod informer.
type Cache struct {
	informer cache.SharedIndexInformer
	prefix   string
}

// New returns a cache of the pods that lw lists (see ListWatch); prefix
// is SDP_HELM_PREFIX.
func New(lw cache.ListerWatcher, prefix string, resync time.Duration) (*Cache, error) {
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, resync, cache.Indexers{})
	if err := inf.SetTransform(Trim); err != nil {
		return nil, fmt.Errorf("pod informer: %w", err)
	}
	c := &Cache{informer: inf, prefix: prefix}
	if err := inf.AddIndexers(cache.Indexers{byDeployment: c.indexFunc}); err != nil {
		return nil, fmt.Errorf("pod index: %w", err)
	}
	return c, nil
}

// Pod is what the cache keeps of a pod. At tens of thousands of pods
// whole pod objects would be most of the service's memory, and even a
// trimmed corev1.Pod is 1,240 bytes of struct (its spec and status by
// value) before any of its content. The metadata keeps the name,
// namespace, UID, resource version, deletion time and the two release
// labels (the informer keys and indexes by them); Status is what
// processing scripts see of the pod, decided as it is cached, and Reason
// why it is not RUNNING or FINISHED: decided as it is cached too, so the
// cache holds its few bounded strings rather than the container statuses
// they come from, and nothing (a nil pointer) for the pods that run.
type Pod struct {
	metav1.ObjectMeta
	Status configdb.PodStatus
	Reason *configdb.PodReason
}

// Trim turns a pod into what the cache keeps (Pod); anything else (a
// tombstone, a Pod already trimmed) passes through, so that it is
// idempotent as an informer's transform must be.
func Trim(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	labels := map[string]string{}
	for _, k := range []string{podstatus.LabelInstance, podstatus.LabelRelease} {
		if v, ok := pod.Labels[k]; ok {
			labels[k] = v
		}
	}
	out := &Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID, ResourceVersion: pod.ResourceVersion,
			Labels: labels, DeletionTimestamp: pod.DeletionTimestamp,
		},
		Status: podstatus.Of(pod),
	}
	if r, ok := podstatus.Reason(pod); ok {
		out.Reason = &r
	}
	return out, nil
}

func (c *Cache) indexFunc(obj any) ([]string, error) {
	pod, ok := obj.(*Pod)
	if !ok {
		return nil, nil
	}
	if id, ok := podstatus.DeploymentID(pod.Labels, c.prefix); ok {
		return []string{id}, nil
	}
	return nil, nil
}

// Why a pod belongs to no deployment (see Classify).
const (
	NoReleaseLabel = "no-release-label" // neither release label is set
	OtherPrefix    = "other-prefix"     // a release of another deployer
	InvalidID      = "invalid-id"       // our prefix, but no valid deployment id
)

// Classify returns the deployment id of a pod object (from an event,
// tombstones included), or, when it belongs to none, why not.
func (c *Cache) Classify(obj any) (id, ignored string) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	// A cached Pod, or a whole one.
	pod, ok := obj.(metav1.Object)
	if !ok {
		return "", NoReleaseLabel
	}
	labels := pod.GetLabels()
	if id, ok := podstatus.DeploymentID(labels, c.prefix); ok {
		return id, ""
	}
	rel := podstatus.Release(labels)
	switch {
	case rel == "":
		return "", NoReleaseLabel
	case c.prefix != "" && !strings.HasPrefix(rel, c.prefix+"-"):
		return "", OtherPrefix
	}
	return "", InvalidID
}

// Pods returns the status of every pod of a deployment, and the reasons
// of those that have one.
func (c *Cache) Pods(id string) (configdb.PodReport, error) {
	objs, err := c.informer.GetIndexer().ByIndex(byDeployment, id)
	if err != nil {
		return configdb.PodReport{}, fmt.Errorf("pods of %s: %w", id, err)
	}
	report := configdb.PodReport{Pods: make(map[string]configdb.PodStatus, len(objs))}
	for _, o := range objs {
		pod, ok := o.(*Pod)
		if !ok {
			continue
		}
		report.Pods[pod.Name] = pod.Status
		if pod.Reason != nil {
			if report.Reasons == nil {
				report.Reasons = map[string]configdb.PodReason{}
			}
			report.Reasons[pod.Name] = *pod.Reason
		}
	}
	return report, nil
}

// CountByStatus counts the cached pods of deployments by status.
func (c *Cache) CountByStatus() map[configdb.PodStatus]int {
	counts := map[configdb.PodStatus]int{}
	for _, o := range c.informer.GetStore().List() {
		if pod, ok := o.(*Pod); ok {
			if _, ours := podstatus.DeploymentID(pod.Labels, c.prefix); ours {
				counts[pod.Status]++
			}
		}
	}
	return counts
}

// Informer is the underlying informer, for event handlers.
func (c *Cache) Informer() cache.SharedIndexInformer { return c.informer }

// Run runs the informer until ctx ends; HasSynced says when its first
// list is in.
func (c *Cache) Run(ctx context.Context) { c.informer.RunWithContext(ctx) }

// HasSynced reports whether the first list has been read.
func (c *Cache) HasSynced() bool { return c.informer.HasSynced() }
