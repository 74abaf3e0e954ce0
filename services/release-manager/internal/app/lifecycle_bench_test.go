package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

// The rest of a deployment's life after its install: its values changed
// (BenchmarkUpgradeN) and its entry deleted (BenchmarkUninstallN), each for
// N entries in one etcd transaction, against the same two bounds as the
// install: the helm CLI one release after another, and the client-go floor
// (the same objects patched or deleted directly). BenchmarkScriptWait is
// what a processing script waits for: from its write to the state entry
// saying deployed, and to every pod RUNNING.
//
//	go test -run '^$' -bench 'UpgradeN|UninstallN' -benchtime 1x ./internal/app

func BenchmarkUpgradeN(b *testing.B) {
	for _, n := range benchSizes(b, "SDP_BENCH_N", "60,500") {
		b.Run(fmt.Sprintf("sdk/N=%d", n), func(b *testing.B) { benchLifecycleSDK(b, n, upgradeStep) })
		b.Run(fmt.Sprintf("client-go-floor/N=%d", n), func(b *testing.B) { benchLifecycleFloor(b, n, upgradeStep) })
	}
	for _, n := range benchSizes(b, "SDP_BENCH_CLI_N", "60") {
		b.Run(fmt.Sprintf("helm-cli-loop/N=%d", n), func(b *testing.B) { benchLifecycleCLI(b, n, upgradeStep) })
	}
}

func BenchmarkUninstallN(b *testing.B) {
	for _, n := range benchSizes(b, "SDP_BENCH_N", "60,500") {
		b.Run(fmt.Sprintf("sdk/N=%d", n), func(b *testing.B) { benchLifecycleSDK(b, n, uninstallStep) })
		b.Run(fmt.Sprintf("client-go-floor/N=%d", n), func(b *testing.B) { benchLifecycleFloor(b, n, uninstallStep) })
	}
	for _, n := range benchSizes(b, "SDP_BENCH_CLI_N", "60") {
		b.Run(fmt.Sprintf("helm-cli-loop/N=%d", n), func(b *testing.B) { benchLifecycleCLI(b, n, uninstallStep) })
	}
}

type lifecycleStep int

const (
	upgradeStep lifecycleStep = iota
	uninstallStep
)

// upgradedImage is the one value the upgrades change: the Pod's image, so
// that Helm patches both objects' owner record and a live Pod.
const upgradedImage = "registry.invalid/x:2"

// benchIDs are the deployment ids of the benchmarks' N entries, as
// servicetest.DeploymentPuts names them; their releases are sdp-<id>.
func benchID(i int) string { return fmt.Sprintf("b%d", i) }

// benchLifecycleSDK installs N releases through the release-manager (not
// timed), then times one transaction changing (or deleting) every entry
// until the state entries say every release is at revision 2 and deployed
// (or every state entry is gone, which the release-manager does once no
// release revision is left).
func benchLifecycleSDK(b *testing.B, n int, step lifecycleStep) {
	var total time.Duration
	var calls apiCounter
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e, stop := warmEnv(b, &calls)
		w := watchStates(b, e)
		if _, err := e.store.Client().Txn(context.Background()).Then(etcdtest.DeploymentPuts(b, e.store.Layout(), "b", "bench", n)...).Commit(); err != nil {
			b.Fatal(err)
		}
		keys := make([]string, n)
		for j := range n {
			keys[j] = e.store.Layout().StateKey(benchID(j))
		}
		w.waitFor(b, 10*time.Minute, "every release installed", func() bool { return w.countAt(keys, 1) == n })
		ops := make([]clientv3.Op, n)
		for j := range n {
			key := e.store.Layout().DeploymentKey(benchID(j))
			if step == uninstallStep {
				ops[j] = clientv3.OpDelete(key)
				continue
			}
			v, err := configdb.Deployment{ID: benchID(j), Kind: configdb.KindHelm, Chart: "bench", Values: map[string]any{"image": upgradedImage}}.Encode()
			if err != nil {
				b.Fatal(err)
			}
			ops[j] = clientv3.OpPut(key, string(v))
		}
		calls.resume()
		b.StartTimer()
		start := time.Now()
		if _, err := e.store.Client().Txn(context.Background()).Then(ops...).Commit(); err != nil {
			b.Fatal(err)
		}
		if step == uninstallStep {
			w.waitFor(b, 10*time.Minute, "every state entry removed", func() bool { return w.countPresent(keys) == 0 })
		} else {
			w.waitFor(b, 10*time.Minute, "every release at revision 2", func() bool { return w.countAt(keys, 2) == n })
		}
		total += time.Since(start)
		b.StopTimer()
		calls.pause()
		stop()
		e.checkAfter(step, n)
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "releases/s")
	calls.report(b, n*b.N)
	b.ReportMetric(0, "ns/op")
}

// checkAfter confirms, outside the timed part, what the state entries
// said: no release Secret of the N left after an uninstall, revision 2
// deployed in storage after an upgrade.
func (e *testEnv) checkAfter(step lifecycleStep, n int) {
	e.t.Helper()
	list, err := e.cs.CoreV1().Secrets(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,status=deployed"})
	if err != nil {
		e.t.Fatal(err)
	}
	deployed := map[string]string{}
	for _, s := range list.Items {
		deployed[s.Labels["name"]] = s.Labels["version"]
	}
	for j := range n {
		v, ok := deployed["sdp-"+benchID(j)]
		switch {
		case step == uninstallStep && ok:
			e.t.Fatalf("release sdp-%s still deployed (revision %s) after its state entry went", benchID(j), v)
		case step == upgradeStep && v != "2":
			e.t.Fatalf("release sdp-%s: deployed revision %q, want 2", benchID(j), v)
		}
	}
}

// benchLifecycleFloor writes, with client-go and 8 at a time as the
// install floor does, what an upgrade or an uninstall of the same release
// needs at the least. Upgrade: the new release record created, the Pod
// patched (the ConfigMap does not change, and Helm leaves it be), the old
// record marked superseded and the new one deployed (4 calls). Uninstall: the record marked uninstalling, both
// objects deleted, the record deleted (4 calls). The objects are created
// first, not timed.
func benchLifecycleFloor(b *testing.B, n int, step lifecycleStep) {
	var total time.Duration
	var calls apiCounter
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b)
		ctx := context.Background()
		cs := floorClient(b, &calls)
		payload := strings.Repeat("x", 2048)
		record := func(name string, rev int, status string) *corev1.Secret {
			return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("sh.helm.release.v1.%s.v%d", name, rev),
				Labels: map[string]string{"owner": "helm", "name": name, "status": status, "version": strconv.Itoa(rev)}},
				StringData: map[string]string{"release": payload}}
		}
		var setup errgroup.Group
		setup.SetLimit(8)
		for j := range n {
			setup.Go(func() error {
				name := "sdp-" + benchID(j)
				if _, err := cs.CoreV1().Secrets(e.ns).Create(ctx, record(name, 1, "deployed"), metav1.CreateOptions{}); err != nil {
					return err
				}
				if _, err := cs.CoreV1().ConfigMaps(e.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"a": "b"}}, metav1.CreateOptions{}); err != nil {
					return err
				}
				_, err := cs.CoreV1().Pods(e.ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/x:1"}}}}, metav1.CreateOptions{})
				return err
			})
		}
		if err := setup.Wait(); err != nil {
			b.Fatal(err)
		}
		podPatch := []byte(`{"spec":{"containers":[{"name":"c","image":"` + upgradedImage + `"}]}}`)
		calls.resume()
		b.StartTimer()
		start := time.Now()
		var g errgroup.Group
		g.SetLimit(8)
		for j := range n {
			g.Go(func() error {
				name := "sdp-" + benchID(j)
				secrets := cs.CoreV1().Secrets(e.ns)
				if step == uninstallStep {
					if _, err := secrets.Update(ctx, record(name, 1, "uninstalling"), metav1.UpdateOptions{}); err != nil {
						return err
					}
					if err := cs.CoreV1().ConfigMaps(e.ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
						return err
					}
					if err := cs.CoreV1().Pods(e.ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
						return err
					}
					return secrets.Delete(ctx, record(name, 1, "").Name, metav1.DeleteOptions{})
				}
				next, err := secrets.Create(ctx, record(name, 2, "pending-upgrade"), metav1.CreateOptions{})
				if err != nil {
					return err
				}
				if _, err := cs.CoreV1().Pods(e.ns).Patch(ctx, name, types.StrategicMergePatchType, podPatch, metav1.PatchOptions{}); err != nil {
					return err
				}
				if _, err := secrets.Update(ctx, record(name, 1, "superseded"), metav1.UpdateOptions{}); err != nil {
					return err
				}
				next.Labels["status"] = "deployed"
				_, err = secrets.Update(ctx, next, metav1.UpdateOptions{})
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		calls.pause()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "releases/s")
	calls.report(b, n*b.N)
	b.ReportMetric(0, "ns/op")
}

// benchLifecycleCLI has the release-manager install N releases (not
// timed) and stops it, then times `helm upgrade` (or `helm uninstall`) of
// each, one after another, as the Python deployer would.
func benchLifecycleCLI(b *testing.B, n int, step lifecycleStep) {
	helm := helmCLI(b)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b)
		e.repo.Add(benchChart)
		stop := e.start()
		w := watchStates(b, e)
		if _, err := e.store.Client().Txn(context.Background()).Then(etcdtest.DeploymentPuts(b, e.store.Layout(), "b", "bench", n)...).Commit(); err != nil {
			b.Fatal(err)
		}
		keys := make([]string, n)
		for j := range n {
			keys[j] = e.store.Layout().StateKey(benchID(j))
		}
		w.waitFor(b, 10*time.Minute, "every release installed", func() bool { return w.countAt(keys, 1) == n })
		stop()
		tgz := filepath.Join(b.TempDir(), "bench-0.1.0.tgz")
		if err := os.WriteFile(tgz, testrepo.Package(b, benchChart), 0o600); err != nil {
			b.Fatal(err)
		}
		kubeconfig := cptest.Get(b).KubeconfigPath
		homes := []string{"HELM_CACHE_HOME=" + b.TempDir(), "HELM_CONFIG_HOME=" + b.TempDir(), "HELM_DATA_HOME=" + b.TempDir()}
		b.StartTimer()
		start := time.Now()
		for j := range n {
			name := "sdp-" + benchID(j)
			args := []string{"uninstall", name}
			if step == upgradeStep {
				args = []string{"upgrade", name, tgz, "--set", "image=" + upgradedImage}
			}
			cmd := exec.Command(helm, append(args, "--namespace", e.ns, "--kubeconfig", kubeconfig)...)
			cmd.Env = append(os.Environ(), homes...)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("helm %s: %v\n%s", args[0], err, out)
			}
		}
		total += time.Since(start)
		b.StopTimer()
		e.checkAfter(step, n)
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "releases/s")
	b.ReportMetric(0, "ns/op")
}
