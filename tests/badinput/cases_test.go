package badinput

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	rm = "release-manager"
	pm = "pod-monitor"
	rs = "resource-monitor"
)

// unicodeGreeting has scripts, combining marks, an emoji beyond the BMP
// and characters JSON writers like to escape.
const unicodeGreeting = "नमस्ते Ωμέγα 望远镜 🔭 e\u0301 <&> \"quoted\""

// cases is the catalogue. Each bad input is fed the way its author would
// feed it: deployment and state entries as raw keys and JSON written to
// etcd, pods and NADs through the API server.
func cases() []*badCase {
	var cs []*badCase
	add := func(c *badCase) { cs = append(cs, c) }

	// Deployment entries: the release-manager reports into the state entry.
	entryCase := func(name, id, value, want string) {
		add(&badCase{name: name, service: rm, input: fmt.Sprintf("`/deploy/%s` = `%s`", id, value), where: whereState, want: want,
			feed: entry(id, value), seen: stateError(id), good: goodDeployment})
	}
	entryCase("malformed JSON", "bad-json", `{"key": "bad-json", "kind": "helm", "args": {"chart": "good-receive"`, "not valid JSON")
	entryCase("JSON that is a list", "bad-list", `["helm", "good-receive"]`, "must be a JSON object, not a list")
	entryCase("JSON that is a string", "bad-string", `"helm good-receive"`, "must be a JSON object, not a string")
	entryCase("kind is a number", "kind-number", `{"key": "kind-number", "kind": 7, "args": {"chart": "good-receive"}}`, `field "kind" must be a string, not 7`)
	entryCase("chart is a number", "chart-number", `{"key": "chart-number", "kind": "helm", "args": {"chart": 5}}`, `field "chart" must be a string, not 5`)
	entryCase("values is a list", "values-list", `{"key": "values-list", "kind": "helm", "args": {"chart": "good-receive", "values": [1, 2]}}`, `"args.values" must be an object, not a list`)
	entryCase("args is a string", "args-string", `{"key": "args-string", "kind": "helm", "args": "good-receive"}`, "must be a JSON object, not a string")
	entryCase("no args", "no-args", `{"key": "no-args", "kind": "helm"}`, `no "args" object`)
	entryCase("no kind", "no-kind", `{"key": "no-kind", "args": {"chart": "good-receive"}}`, `no "kind" (or "type") field`)
	entryCase("empty chart", "empty-chart", `{"key": "empty-chart", "kind": "helm", "args": {"chart": ""}}`, `"args.chart" is missing or empty`)
	entryCase("id in the body differs from the key", "id-mismatch", `{"key": "other-id", "kind": "helm", "args": {"chart": "good-receive"}}`, `says the id is "other-id"`)

	for _, k := range []struct{ name, id, kind string }{
		{"unknown kind (another deployer's)", "kind-slurm", "slurm"},
		{"kind with a typo", "kind-typo", "Helm"},
	} {
		value := fmt.Sprintf(`{"key": %q, "kind": %q, "args": {"chart": "good-receive"}}`, k.id, k.kind)
		add(&badCase{name: k.name, service: rm, input: fmt.Sprintf("`/deploy/%s` = `%s`", k.id, value), where: whereRMLog,
			want: "not of kind helm", feed: entry(k.id, value), seen: logged(rm, k.id), good: goodDeployment,
			note:  "No state entry and no release (another deployer's entry). The log line was added with this catalogue: before it, nothing said anywhere that the entry was left alone.",
			check: func(r *run) error { return r.e.untouched(k.id) }})
	}

	// Ids, as raw keys: SDP clients accept ^[A-Za-z0-9-]{1,96}$, Helm
	// wants a DNS-1123 label of at most 53 characters.
	idCase := func(name, id, want string) {
		value := fmt.Sprintf(`{"key": %q, "kind": "helm", "args": {"chart": "good-receive"}}`, id)
		add(&badCase{name: name, service: rm, input: fmt.Sprintf("`/deploy/%s` (a valid entry)", truncate(id, 60)), where: whereState, want: want,
			feed: entry(id, value), seen: stateError(id), good: goodDeployment})
	}
	idCase("id with upper case", "Upper-Case-ID", "lowercase RFC 1123 label")
	idCase("id of 97 characters", strings.Repeat("a", 97), "is 97 characters, at most 96 are allowed")
	idCase("id of 54 characters (release name too long)", strings.Repeat("b", 54), "Helm allows at most 53")
	idCase("id with '_' and '.'", "bad_id.v1", "may hold only letters, digits and '-'")
	idCase("unicode id", "dépôt-1", "may hold only letters, digits and '-'")
	idCase("id starting with '-'", "-lead", "must start and end with an alphanumeric character")
	add(&badCase{name: "empty id", service: rm, input: "`/deploy/` itself (key `2/deploy/`) = a valid entry", where: whereRMLog,
		want: "is not a deployment entry", feed: func(r *run) error {
			return r.e.put("2/deploy/", `{"key": "", "kind": "helm", "args": {"chart": "good-receive"}}`)
		}, seen: logged(rm, "unreadable key", `"2/deploy/"`), good: goodDeployment})
	add(&badCase{name: "key with a wrong depth tag", service: rm, input: "key `2/deploy/x/y` = a valid entry", where: whereRMLog,
		want: "is tagged depth 2 but has 3 '/'", feed: func(r *run) error {
			return r.e.put("2/deploy/x/y", `{"key": "y", "kind": "helm", "args": {"chart": "good-receive"}}`)
		}, seen: logged(rm, "unreadable key", "2/deploy/x/y"), good: goodDeployment})

	// Values.
	valuesCase := func(name, id, chart string, values, want string) {
		value := fmt.Sprintf(`{"key": %q, "kind": "helm", "args": {"chart": %q, "values": %s}}`, id, chart, values)
		add(&badCase{name: name, service: rm, input: fmt.Sprintf("chart `%s`, values `%s`", chart, values), where: whereState, want: want,
			feed: entry(id, value), seen: stateError(id), good: goodDeployment})
	}
	valuesCase("conflicting dotted values", "dotted-conflict", "good-receive", `{"image": "x", "image.tag": "y"}`, `both set "image"`)
	valuesCase("dotted value with an empty part", "dotted-empty", "good-receive", `{"receiver..port": 1}`, "has an empty part between dots")
	valuesCase("values failing values.schema.json", "schema-fail", "schema-check", `{"replicas": "two"}`, "values don't meet the specifications of the schema")
	valuesCase("chart that fails to render (required value)", "required-missing", "required-value", `{}`, "receiver.port must be set")
	valuesCase("number too large for any type", "huge-number", "good-receive", `{"replicas": 1e400}`, "spec.replicas")

	hugeValues := func(n int) string {
		b := make([]byte, n*3/4)
		if _, err := rand.Read(b); err != nil {
			panic(err)
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	add(&badCase{name: "chart name of 800 KiB", service: rm, input: "chart `ccc…` (800 KiB of `c`)", where: whereState,
		want:  `"args.chart" is 819200 bytes long`,
		feed:  entry("huge-chart-name", deploymentJSON("huge-chart-name", strings.Repeat("c", 800<<10), nil)),
		seen:  stateError("huge-chart-name"),
		good:  goodDeployment,
		note:  "Before this catalogue the name was quoted three times into the state entry's error, etcd refused the 2.4 MB write, and the state entry never appeared (configdb fix).",
		check: func(r *run) error { return r.e.stateSmall("huge-chart-name") }})
	add(&badCase{name: "id field of 800 KiB in the body", service: rm, input: "`/deploy/huge-key` = `{\"key\": \"xxx…\" (800 KiB), ...}`", where: whereState,
		want:  `says the id is "xxx`,
		feed:  entry("huge-key", fmt.Sprintf(`{"key": %q, "kind": "helm", "args": {"chart": "good-receive"}}`, strings.Repeat("x", 800<<10))),
		seen:  stateError("huge-key"),
		good:  goodDeployment,
		check: func(r *run) error { return r.e.stateSmall("huge-key") }})
	add(&badCase{name: "values of 1.2 MiB (over the 1 MiB Secret limit)", service: rm,
		input: "chart `good-receive`, values `{\"blob\": <1.2 MiB of random base64>}`", where: whereState, want: "Too long: may not be more than 1048576 bytes",
		feed: entry("huge-values", deploymentJSON("huge-values", "good-receive", map[string]any{"blob": hugeValues(1258291)})),
		seen: stateError("huge-values"), good: goodDeployment,
		note: "The config DB takes it; Helm keeps a release (values included, gzipped) in one Secret, which Kubernetes caps at 1 MiB."})
	add(&badCase{name: "values of 1.6 MiB (over the config DB's request limit)", service: rm,
		input: "chart `good-receive`, values `{\"blob\": <1.6 MiB of random base64>}`", where: whereReply + " (config DB)", want: "request is too large",
		feed: entry("huger-values", deploymentJSON("huger-values", "good-receive", map[string]any{"blob": hugeValues(1677722)})),
		seen: replied, good: goodDeployment,
		note: "etcd's default request limit (1.5 MiB) refuses the write itself: the script is told at once, and no service sees anything."})
	add(&badCase{name: "unicode values (must work)", service: rm,
		input: fmt.Sprintf("chart `echo-values`, values `{\"greeting\": %q}`", unicodeGreeting), where: whereStatus + " and the rendered ConfigMap", want: "deployed",
		feed: entry("unicode-values", deploymentJSON("unicode-values", "echo-values", map[string]any{"greeting": unicodeGreeting})),
		seen: stateError("unicode-values"), good: goodDeployment,
		note: "The rendered ConfigMap holds the greeting exactly as written.",
		check: func(r *run) error {
			cm, err := r.e.cs.CoreV1().ConfigMaps(namespace).Get(r.e.ctx, "unicode-values", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if got := cm.Data["greeting"]; got != unicodeGreeting {
				return fmt.Errorf("greeting did not round-trip: got %q, want %q", got, unicodeGreeting)
			}
			return nil
		}})

	// Charts.
	chartCase := func(name, id, chart, version, want string, check func(r *run) error) {
		args := map[string]any{"chart": chart}
		input := fmt.Sprintf("chart `%s`", chart)
		if version != "" {
			args["version"] = version
			input += fmt.Sprintf(", version `%s`", version)
		}
		b, _ := json.Marshal(map[string]any{"key": id, "kind": "helm", "args": args})
		add(&badCase{name: name, service: rm, input: input, where: whereState, want: want,
			feed: entry(id, string(b)), seen: stateError(id), good: goodDeployment, check: check})
	}
	chartCase("chart not in the repository", "no-such-chart", "no-such-chart", "", `no chart "no-such-chart" in the repository`, nil)
	chartCase("chart version not in the repository", "no-such-version", "good-receive", "9.9.9", `no chart "good-receive" version "9.9.9"`, nil)
	chartCase("chart archive on a host that is away", "archive-away", "away", "", "chart source unreachable", nil)
	add(&badCase{name: "chart repository that is away", service: rm + " (a second one, `SDP_CHART_REPO_URL` away)",
		input: "a release-manager with `SDP_CHART_REPO_URL` on a closed port (config prefix `/away`, namespace `sdp-away`); chart `good-receive`",
		where: whereState, want: "read chart repository index: chart source unreachable",
		feed: func(r *run) error {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sdp-away"}}
			if _, err := r.e.cs.CoreV1().Namespaces().Create(r.e.ctx, ns, metav1.CreateOptions{}); err != nil {
				return err
			}
			r.e.startExtra("release-manager (repository away)", rm,
				[]string{"SDP_CHART_REPO_URL=http://" + r.e.deadAddr, "SDP_CONFIG_PREFIX=/away", "SDP_HELM_NAMESPACE=sdp-away"},
				"--cache-dir="+r.e.t.TempDir())
			return r.e.put(rawKey("/away/deploy/repo-away"), deploymentJSON("repo-away", "good-receive", nil))
		},
		seen: stateErrorAt("/away", "repo-away"), good: goodDeployment,
		note: "Started by the case beside the main system, whose release-manager (repository up) goes on: its good deployment converged."})
	chartCase("OCI registry that is away", "oci-away", "oci://127.0.0.1:9/charts/good-receive", "0.1.0", "chart source unreachable", nil)
	chartCase("corrupt chart archive", "corrupt-archive", "corrupt", "", "invalid chart", nil)
	add(&badCase{name: "archive that does not match the index digest (installed, as Helm does)", service: rm,
		input: "chart `tampered`", where: whereRMLog, want: "chart archive digest differs from the repository index",
		feed: entry("tampered-archive", deploymentJSON("tampered-archive", "tampered", nil)), seen: logged(rm, "tampered"), good: goodDeployment,
		note: "Installed with a warning, logged once per archive and counted (`sdp_helmdeploy_release_manager_chart_digest_mismatch_total`); `SDP_CHART_VERIFY_DIGEST=true` refuses it instead."})
	chartCase("local chart path that does not exist", "no-such-path", "/charts/no-such-path", "", "does not exist", nil)
	chartCase("chart with an object in another namespace", "other-ns", "other-namespace", "", `ConfigMap "other-ns" is in namespace "kube-system"`,
		func(r *run) error {
			if _, err := r.e.cs.CoreV1().ConfigMaps("kube-system").Get(r.e.ctx, "other-ns", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("the ConfigMap in kube-system was created (or the read failed: %v)", err)
			}
			return nil
		})
	chartCase("chart with cluster-scoped objects", "cluster-objs", "cluster-scoped", "", `ClusterRole "cluster-objs" is cluster-scoped`,
		func(r *run) error {
			if _, err := r.e.cs.RbacV1().ClusterRoles().Get(r.e.ctx, "cluster-objs", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("the ClusterRole was created (or the read failed: %v)", err)
			}
			if _, err := r.e.cs.CoreV1().Namespaces().Get(r.e.ctx, "cluster-objs-ns", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("the Namespace was created (or the read failed: %v)", err)
			}
			return nil
		})
	chartCase("chart rendering text that is not YAML", "bad-yaml", "bad-yaml", "", "YAML parse error", nil)
	chartCase("chart rendering an object the API refuses", "invalid-object", "invalid-object", "", "invalid-object", nil)

	// State entries.
	add(&badCase{name: "state entry that is not JSON", service: rm + ", " + pm,
		input: "`/deploy/garbage-state/state` = `}{ not json` written with a valid entry", where: whereRMLog + " and " + wherePMLog,
		want: "state entry cannot be read",
		feed: func(r *run) error {
			return r.e.txnPut(map[string]string{
				rawKey("/deploy/garbage-state/state"): "}{ not json",
				rawKey("/deploy/garbage-state"):       deploymentJSON("garbage-state", "good-receive", nil),
			})
		},
		seen: both(logged(rm, "garbage-state"), logged(pm, "garbage-state", "not overwriting it")), good: goodDeployment,
		check: func(r *run) error {
			if err := r.e.keptAs(rawKey("/deploy/garbage-state/state"), "}{ not json"); err != nil {
				return err
			}
			// The release is still made: only the report is held back.
			return r.e.deploymentExists("garbage-state")
		},
		note: "The entry is left exactly as written (never overwritten) and the release is still installed; only the report is held back."})
	add(&badCase{name: "state entry whose pods part is a list", service: pm,
		input: "`/deploy/pods-list/state` = `{\"pods\": [\"x\"]}` written with a valid entry", where: wherePMLog,
		want: `"pods" is a list, not an object`,
		feed: func(r *run) error {
			return r.e.txnPut(map[string]string{
				rawKey("/deploy/pods-list/state"): `{"pods": ["x"]}`,
				rawKey("/deploy/pods-list"):       deploymentJSON("pods-list", "good-receive", nil),
			})
		},
		seen: logged(pm, "pods-list", "not overwriting it"), good: goodDeployment})
	add(&badCase{name: "state entry whose release part is a string", service: rm,
		input: "`/deploy/release-string/state` = `{\"release\": \"deployed\"}` written with a valid entry", where: whereRMLog,
		want: `"release" is a string, not an object`,
		feed: func(r *run) error {
			return r.e.txnPut(map[string]string{
				rawKey("/deploy/release-string/state"): `{"release": "deployed"}`,
				rawKey("/deploy/release-string"):       deploymentJSON("release-string", "good-receive", nil),
			})
		},
		seen: logged(rm, "release-string"), good: goodDeployment,
		check: func(r *run) error {
			// The pod-monitor adds its part; the release part stays as it
			// was written.
			v, _, err := r.e.get(rawKey("/deploy/release-string/state"))
			var doc map[string]any
			if err != nil || json.Unmarshal([]byte(v), &doc) != nil || doc["release"] != "deployed" {
				return fmt.Errorf("the release part was changed: %q (%v)", v, err)
			}
			return nil
		}})
	add(&badCase{name: "state entry with no deployment", service: pm,
		input: "`/deploy/orphan-state/state` = `{\"pods\": {}}`, no `/deploy/orphan-state`; then pod-monitor restarted", where: wherePMLog,
		want: "orphan state entry removed",
		feed: func(r *run) error {
			if err := r.e.put(rawKey("/deploy/orphan-state/state"), `{"pods": {}}`); err != nil {
				return err
			}
			// Orphans are looked for when the entries are listed (at start
			// and after a watch gap), not on every write under /deploy/:
			// once a deployment written after it has converged, the
			// orphan is shown to be still there; a restart removes it.
			if err := r.e.feedGood(goodDeployment, "orphan-witness"); err != nil {
				return err
			}
			if err := r.e.waitGood(goodDeployment, "orphan-witness"); err != nil {
				return err
			}
			if _, found, err := r.e.get(rawKey("/deploy/orphan-state/state")); err != nil || !found {
				return fmt.Errorf("the orphan was removed while the pod-monitor ran (%v): the note is wrong", err)
			}
			r.e.restart(pm)
			r.logMark[pm] = 0
			return nil
		},
		seen: logged(pm, "orphan-state"), good: goodDeployment,
		note: "Orphans are looked for when the entries are listed (at start and after a watch gap), so one written while the service runs stays until then; here the pod-monitor was restarted to show it removed.",
		check: func(r *run) error {
			if r.fed != nil {
				return r.fed
			}
			if _, found, err := r.e.get(rawKey("/deploy/orphan-state/state")); err != nil || found {
				return fmt.Errorf("orphan state entry still there (%v)", err)
			}
			return nil
		}})

	// Pods, through the API server.
	add(&badCase{name: "pod labelled with an invalid id", service: pm,
		input: "pod `pod-bad-id`, label `app.kubernetes.io/instance: bad_id.v1`", where: wherePMLog + " and metric",
		want: "names no valid deployment id",
		feed: func(r *run) error {
			return r.e.createPod("pod-bad-id", map[string]string{"app.kubernetes.io/instance": "bad_id.v1"})
		},
		seen: both(logged(pm, "pod-bad-id"), metricUp(pm, series{"sdp_helmdeploy_pod_monitor_ignored_pods_total", "invalid-id"})), good: goodDeployment})
	add(&badCase{name: "pod labelled with an id that has no deployment", service: pm,
		input: "pod `pod-no-deployment`, label `app.kubernetes.io/instance: no-such-deployment`", where: "nothing (ignored by design): no state entry is created",
		want: "no state entry",
		feed: func(r *run) error {
			return r.e.createPod("pod-no-deployment", map[string]string{"app.kubernetes.io/instance": "no-such-deployment"})
		},
		seen: func(r *run) (string, bool) {
			pod, err := r.e.cs.CoreV1().Pods(namespace).Get(r.e.ctx, "pod-no-deployment", metav1.GetOptions{})
			if err != nil || pod.Status.Phase != "Running" {
				return fmt.Sprintf("pod not Running yet (%v)", err), false
			}
			return "pod Running; no state entry for no-such-deployment", true
		},
		good: goodDeployment,
		note: "Pods of no known deployment are ignored: no state entry, and no line in the pod-monitor's log.",
		check: func(r *run) error {
			if _, found, err := r.e.get(rawKey("/deploy/no-such-deployment/state")); err != nil || found {
				return fmt.Errorf("a state entry was created for a deployment that does not exist (%v)", err)
			}
			logs := r.e.procs[pm].Logs()[r.logMark[pm]:]
			if strings.Contains(logs, "pod-no-deployment") || strings.Contains(logs, "no-such-deployment") {
				return fmt.Errorf("the pod-monitor logged about the pod, the note is wrong:\n%s", logs)
			}
			return nil
		}})
	add(&badCase{name: "pod labelled with a unicode id", service: pm,
		input: "pod `pod-unicode`, label `app.kubernetes.io/instance: dépôt`", where: whereReply + " (API server)",
		want: "a valid label must be an empty string or consist of alphanumeric characters",
		feed: func(r *run) error {
			return r.e.createPod("pod-unicode", map[string]string{"app.kubernetes.io/instance": "dépôt"})
		},
		seen: replied, good: goodDeployment})

	// NetworkAttachmentDefinitions, through the API server.
	nadCase := func(name, nad string, config any, want, reason string) {
		input := fmt.Sprintf("NAD `%s`, `spec.config` = `%v`", nad, config)
		if config == nil {
			input = fmt.Sprintf("NAD `%s`, no `spec.config`", nad)
		}
		add(&badCase{name: name, service: rs, input: input, where: whereRsLog + " and metric", want: want,
			feed: func(r *run) error { return r.e.createNAD(nad, available(""), config) },
			seen: both(logged(rs, nad, "NAD config unusable"),
				metricUp(rs, series{"sdp_helmdeploy_resource_monitor_parse_errors_total", reason})),
			good: goodNAD,
			check: func(r *run) error {
				return r.e.noEntry("network-attachment-definition:" + namespace + ":" + nad)
			}})
	}
	nadCase("NAD config that is malformed JSON", "nad-bad-json", `{"cniVersion": "0.3.1", "type": "macvlan",`, "config is not valid JSON", "invalid-json")
	nadCase("NAD config that is empty", "nad-empty", "", "config is not valid JSON: empty", "invalid-json")
	nadCase("NAD config that is a JSON list", "nad-list", `["macvlan"]`, "not a JSON object", "invalid-config")
	nadCase("NAD missing its config", "nad-no-config", nil, "spec.config missing or not a string", "invalid-config")
	nadCase("NAD config without a plugin type", "nad-no-type", `{"cniVersion": "0.3.1", "name": "nad-no-type", "ipam": {"type": "whereabouts", "range": "10.61.1.0/24"}}`, "type", "invalid-config")
	nadCase("NAD with an unknown IPAM", "nad-dhcp", `{"cniVersion": "0.3.1", "name": "nad-dhcp", "type": "macvlan", "ipam": {"type": "dhcp"}}`, `ipam type "dhcp" is not one this service reads`, "no-subnet")
	nadCase("NAD without IPAM", "nad-no-ipam", `{"cniVersion": "0.3.1", "name": "nad-no-ipam", "type": "macvlan"}`, "has no ipam", "no-subnet")
	nadCase("NAD with a bad CIDR", "nad-bad-cidr", `{"cniVersion": "0.3.1", "name": "nad-bad-cidr", "type": "macvlan", "ipam": {"type": "whereabouts", "range": "10.61.2.0/33"}}`, `subnet "10.61.2.0/33"`, "no-subnet")
	nadCase("NAD range start after its end", "nad-range-reversed", `{"cniVersion": "0.3.1", "name": "nad-range-reversed", "type": "macvlan", "ipam": {"type": "whereabouts", "range": "10.61.3.0/24", "range_start": "10.61.3.200", "range_end": "10.61.3.10"}}`, "range start 10.61.3.200 after range end 10.61.3.10", "invalid-config")
	nadCase("NAD range outside its subnet", "nad-range-outside", `{"cniVersion": "0.3.1", "name": "nad-range-outside", "type": "macvlan", "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.61.4.0/24", "rangeStart": "10.99.0.1"}]]}}`, "range start 10.99.0.1 is outside subnet 10.61.4.0/24", "invalid-config")
	nadCase("NAD with VLAN 5000", "nad-vlan", `{"cniVersion": "0.3.1", "name": "nad-vlan", "type": "macvlan", "vlan": 5000, "ipam": {"type": "whereabouts", "range": "10.61.5.0/24"}}`, "vlan 5000 out of 0-4094", "invalid-config")
	nadCase("NAD with a bad exclude", "nad-bad-exclude", `{"cniVersion": "0.3.1", "name": "nad-bad-exclude", "type": "macvlan", "ipam": {"type": "whereabouts", "range": "10.61.6.0/24", "exclude": ["10.61.6.300"]}}`, `exclude "10.61.6.300" is neither a CIDR nor an address`, "invalid-config")

	add(&badCase{name: "NAD config that is not a string", service: rs, input: "NAD `nad-config-number`, `spec.config` = `42`",
		where: whereReply + " (API server)", want: "must be of type string",
		feed: func(r *run) error { return r.e.createNAD("nad-config-number", available(""), int64(42)) },
		seen: replied, good: goodNAD})
	add(&badCase{name: "supernet of IPv4 and IPv6 networks", service: rs,
		input: "NADs `mix-v4` (10.62.0.0/24) and `mix-v6` (fd00:62::/64), both labelled `sdp.skao.int/supernet: mixed-sn`", where: whereRsLog,
		want: "members mix IPv4 and IPv6",
		feed: func(r *run) error {
			if err := r.e.createNAD("mix-v4", available("mixed-sn"), goodConfig("mix-v4", "10.62.0.0/24")); err != nil {
				return err
			}
			return r.e.createNAD("mix-v6", available("mixed-sn"), goodConfig("mix-v6", "fd00:62::/64"))
		},
		seen: logged(rs, "mixed-sn", "no covering CIDR"), good: goodNAD,
		check: func(r *run) error {
			// The members keep their own entries; only the supernet has none.
			for _, id := range []string{"network-attachment-definition:sdp:mix-v4", "network-attachment-definition:sdp:mix-v6"} {
				if _, found, err := r.e.get(rawKey("/resource/" + id)); err != nil || !found {
					return fmt.Errorf("entry %s missing (%v)", id, err)
				}
			}
			return r.e.noEntry("supernet:mixed-sn")
		}})
	add(&badCase{name: "supernet label that is not a label value", service: rs,
		input: "NAD `nad-bad-supernet`, label `sdp.skao.int/supernet: vis net!`", where: whereReply + " (API server)",
		want: "a valid label must be an empty string or consist of alphanumeric characters",
		feed: func(r *run) error {
			return r.e.createNAD("nad-bad-supernet", available("vis net!"), goodConfig("nad-bad-supernet", "10.63.0.0/24"))
		},
		seen: replied, good: goodNAD})
	add(&badCase{name: "supernet label with upper case, '_' and '.' (a valid label value)", service: rs,
		input: "NAD `nad-odd-supernet`, label `sdp.skao.int/supernet: Vis_Net.2`", where: whereResource,
		want: `"name":"Vis_Net.2"`,
		feed: func(r *run) error {
			return r.e.createNAD("nad-odd-supernet", available("Vis_Net.2"), goodConfig("nad-odd-supernet", "10.63.1.0/24"))
		},
		seen: resourceEntry("supernet:Vis_Net.2"), good: goodNAD})
	add(&badCase{name: "NAD labelled available-for-allocation \"True\"", service: rs,
		input: "NAD `nad-true-caps`, label `sdp.skao.int/available-for-allocation: \"True\"`, a valid config",
		where: whereRsLog + " (only the value `true` is selected)", want: `label value "True" is not "true"`,
		feed: func(r *run) error {
			return r.e.createNAD("nad-true-caps", map[string]string{"sdp.skao.int/available-for-allocation": "True"}, goodConfig("nad-true-caps", "10.63.5.0/24"))
		},
		seen: logged(rs, "nad-true-caps", "NAD not selected"), good: goodNAD,
		note: "Logged once per NAD and label value; the NAD gets no entry.",
		check: func(r *run) error {
			return r.e.noEntry("network-attachment-definition:sdp:nad-true-caps")
		}})
	add(&badCase{name: "unicode NAD name", service: rs, input: "NAD `vis-ñet`", where: whereReply + " (API server)",
		want: "a lowercase RFC 1123 subdomain must consist of",
		feed: func(r *run) error {
			return r.e.createNAD("vis-ñet", available(""), goodConfig("vis-ñet", "10.63.2.0/24"))
		},
		seen: replied, good: goodNAD})
	add(&badCase{name: "unicode in a NAD config (must work)", service: rs,
		input: "NAD `nad-unicode`, config with `\"name\": \"réseau-ü\"`, `\"master\": \"éth1\"`", where: whereResource,
		want: `"master":"éth1"`,
		feed: func(r *run) error {
			return r.e.createNAD("nad-unicode", available(""), `{"cniVersion": "0.3.1", "name": "réseau-ü", "type": "macvlan", "master": "éth1", "ipam": {"type": "whereabouts", "range": "10.63.3.0/24"}}`)
		},
		seen: resourceEntry("network-attachment-definition:sdp:nad-unicode"), good: goodNAD})
	padded := func(n int) string {
		return fmt.Sprintf(`{"cniVersion": "0.3.1", "name": "nad-huge", "type": "macvlan", "master": "eth1", "x-padding": %q, "ipam": {"type": "whereabouts", "range": "10.63.4.0/24"}}`, strings.Repeat("p", n))
	}
	add(&badCase{name: "NAD config of 900 KiB", service: rs, input: "NAD `nad-huge`, a valid config padded to 900 KiB with an unknown field",
		where: whereResource, want: `"subnet":"10.63.4.0/24"`,
		feed: func(r *run) error { return r.e.createNAD("nad-huge", available(""), padded(900<<10)) },
		seen: resourceEntry("network-attachment-definition:sdp:nad-huge"), good: goodNAD})
	add(&badCase{name: "NAD config of 2 MiB", service: rs, input: "NAD `nad-huger`, a valid config padded to 2 MiB",
		where: whereReply + " (API server)", want: "larger than max",
		feed: func(r *run) error { return r.e.createNAD("nad-huger", available(""), padded(2<<20)) },
		seen: replied, good: goodNAD,
		note: "Refused by the API server's own client of its etcd (2 MiB gRPC limit): the wording is Kubernetes', the resource-monitor never sees the NAD."})
	return cs
}

// resourceEntry is a /resource/ entry's raw value, ok once it holds want.
func resourceEntry(id string) func(r *run) (string, bool) {
	return func(r *run) (string, bool) {
		v, found, err := r.e.get(rawKey("/resource/" + id))
		switch {
		case err != nil:
			return err.Error(), false
		case !found:
			return "(no entry)", false
		}
		var compact strings.Builder
		var m any
		if json.Unmarshal([]byte(v), &m) == nil {
			b, _ := json.Marshal(m)
			compact.Write(b)
		} else {
			compact.WriteString(v)
		}
		s := fmt.Sprintf("`/resource/%s` = %s", id, compact.String())
		return s, strings.Contains(compact.String(), r.c.want)
	}
}

// untouched checks that a deployment left to others got neither a state
// entry nor a release.
func (e *env) untouched(id string) error {
	if _, found, err := e.get(rawKey("/deploy/" + id + "/state")); err != nil || found {
		return fmt.Errorf("a state entry was written for %s (%v)", id, err)
	}
	secrets, err := e.cs.CoreV1().Secrets(namespace).List(e.ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + id})
	if err != nil {
		return err
	}
	if len(secrets.Items) > 0 {
		return fmt.Errorf("a release %s was made", id)
	}
	return nil
}

// stateSmall checks that a state entry stays small whatever its
// deployment entry quotes.
func (e *env) stateSmall(id string) error {
	v, _, err := e.get(rawKey("/deploy/" + id + "/state"))
	if err != nil || len(v) > 4096 {
		return fmt.Errorf("state entry of %s is %d bytes (%v)", truncate(id, 20), len(v), err)
	}
	return nil
}

// keptAs checks that a key still holds exactly what was written.
func (e *env) keptAs(key, want string) error {
	v, found, err := e.get(key)
	if err != nil || !found || v != want {
		return fmt.Errorf("%s was changed: found=%v value=%q (%v)", key, found, v, err)
	}
	return nil
}

func (e *env) noEntry(id string) error {
	if _, found, err := e.get(rawKey("/resource/" + id)); err != nil || found {
		return fmt.Errorf("entry /resource/%s exists (%v)", id, err)
	}
	return nil
}

func (e *env) deploymentExists(name string) error {
	var err error
	if poll(30*time.Second, func() bool {
		_, err = e.cs.AppsV1().Deployments(namespace).Get(e.ctx, name, metav1.GetOptions{})
		return err == nil
	}) {
		return nil
	}
	return fmt.Errorf("release %s was not installed: %v", name, err)
}

// txnPut writes several keys in one transaction, as a script creating a
// deployment with its state would.
func (e *env) txnPut(kvs map[string]string) error {
	var ops []clientv3.Op
	for k, v := range kvs {
		ops = append(ops, clientv3.OpPut(k, v))
	}
	_, err := e.kv.Txn(e.ctx).Then(ops...).Commit()
	return err
}

func truncate(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
