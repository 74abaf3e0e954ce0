package podcache

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/ska-telescope/sdp-helmdeploy/shared/kube"
)

// ListWatch lists and watches the pods of namespace through a REST client
// whose scheme knows core/v1 alone. The generated typed client, even for
// core/v1 only, imports client-go's scheme of every API group: their code
// and registrations measured as about 10 MiB of this small service's
// resident memory (docs/benchmarks/pod-monitor.md).
func ListWatch(cfg *rest.Config, namespace string) (cache.ListerWatcher, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("core/v1 scheme: %w", err)
	}
	// An informer's watches must outlive the request timeout.
	c := kube.ForWatches(cfg)
	c.APIPath = "/api"
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	// Protobuf decodes with less garbage than JSON at every pod event.
	c.ContentType = runtime.ContentTypeProtobuf
	c.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	client, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("pods client: %w", err)
	}
	params := runtime.NewParameterCodec(scheme)
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			pods := &corev1.PodList{}
			err := client.Get().Namespace(namespace).Resource("pods").VersionedParams(&o, params).Do(ctx).Into(pods)
			return pods, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.Watch = true
			return client.Get().Namespace(namespace).Resource("pods").VersionedParams(&o, params).Watch(ctx)
		},
	}, nil
}
