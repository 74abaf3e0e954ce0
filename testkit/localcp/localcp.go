//go:build unix

// Package localcp runs a local Kubernetes control plane for tests and the
// demo: a real etcd and a real kube-apiserver, optionally with
// kube-controller-manager, kube-scheduler and kwok (which plays the kubelet of
// a fake node, so that pods go Pending → Running → Succeeded without any
// container runtime).
//
// The binaries are built from source, at pinned versions, by
// testkit/localcp/build.sh (make controlplane-binaries) into
// ${SDP_CACHE_DIR:-$HOME/.cache/sdp-helmdeploy}/bin. Start returns an error
// matching ErrBinariesMissing when they are not there.
//
// Every component listens on 127.0.0.1 only, on free ports, and runs as a
// child process in its own process group with its log in the work directory.
// Stop (or cancelling the context given to Start) stops them all.
package localcp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/proc"
)

// Versions of the binaries that build.sh builds; for information.
const (
	EtcdVersion       = "v3.7.0"
	KubernetesVersion = "v1.37.2"
	KwokVersion       = "v0.8.0"
)

// ServiceClusterIPRange is the apiserver's --service-cluster-ip-range: an
// address range inside the cluster's data model only; nothing is contacted.
const ServiceClusterIPRange = "10.0.0.0/24"

// PodCIDR is the range kwok gives pod IPs from (data only, like the above).
const PodCIDR = "10.244.0.0/16"

// KwokNodeName is the fake node that kwok manages when Options.Kwok is set.
const KwokNodeName = "kwok-node-0"

// KwokNodeAnnotation marks the nodes that kwok manages.
const KwokNodeAnnotation = "kwok.x-k8s.io/node"

// ErrBinariesMissing is matched (errors.Is) by the error Start returns when
// binaries are not built.
var ErrBinariesMissing = errors.New("local control plane binaries not built: run `make controlplane-binaries`")

// MissingBinariesError names the binaries that Start did not find.
type MissingBinariesError struct {
	BinDir  string
	Missing []string
}

func (e *MissingBinariesError) Error() string {
	return fmt.Sprintf("local control plane binaries not built (missing in %s: %s): run `make controlplane-binaries` (testkit/localcp/build.sh)",
		e.BinDir, strings.Join(e.Missing, ", "))
}

// Is makes errors.Is(err, ErrBinariesMissing) true.
func (e *MissingBinariesError) Is(target error) bool { return target == ErrBinariesMissing }

// Options selects the components and where they run. etcd and kube-apiserver
// always run.
type Options struct {
	// Dir is the work directory: certificates, kubeconfig, etcd data, logs.
	// Empty means a new temporary directory, removed by Stop unless KeepDir.
	// A given directory is kept; its etcd data is wiped at Start.
	Dir     string
	KeepDir bool

	// BinDir holds the binaries; empty means DefaultBinDir().
	BinDir string

	ControllerManager bool // kube-controller-manager (all default controllers)
	Scheduler         bool // kube-scheduler
	Kwok              bool // kwok, with a fake node KwokNodeName and fast pod stages

	// RealNodes is how many real nodes to start (kubelet, containerd, runc;
	// see node.go): real containers, from the images in NodeImages, on
	// nodes labelled RealNodeLabel=RealNodeLabelValue.
	RealNodes int
	// NodeImages are image tarballs (docker save or OCI archives) imported
	// into every real node's containerd before its kubelet starts; pods
	// use them with imagePullPolicy Never or IfNotPresent, as nothing can
	// be pulled here. SandboxImage, the pause image containerd runs in
	// every pod, must be one of them.
	NodeImages   []string
	SandboxImage string

	// AuditLog makes the kube-apiserver write an audit log of every request
	// that changes something (AuditPolicy) to logs/audit.log in the work
	// directory, bounded on disk (AuditLogMaxSizeMB); read it with
	// ReadAuditLog.
	AuditLog bool

	// APIServerArgs are appended to kube-apiserver's flags (later wins).
	APIServerArgs []string

	// StartTimeout bounds Start (default 3 minutes).
	StartTimeout time.Duration
	// StopTimeout is how long each process has between SIGTERM and SIGKILL
	// (default 10 s).
	StopTimeout time.Duration

	// Logger receives progress messages; nil means slog.Default().
	Logger *slog.Logger
}

// All returns o with every optional component selected.
func (o Options) All() Options {
	o.ControllerManager, o.Scheduler, o.Kwok = true, true, true
	return o
}

// DefaultBinDir is ${SDP_CACHE_DIR:-$HOME/.cache/sdp-helmdeploy}/bin, where
// build.sh puts the binaries.
func DefaultBinDir() string {
	if d := os.Getenv("SDP_CACHE_DIR"); d != "" {
		return filepath.Join(d, "bin")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "sdp-helmdeploy", "bin")
}

// ControlPlane is a running local control plane.
type ControlPlane struct {
	// Dir is the work directory.
	Dir string
	// KubeconfigPath is an admin kubeconfig for the apiserver.
	KubeconfigPath string
	// APIServerURL is https://127.0.0.1:<port>.
	APIServerURL string
	// EtcdEndpoint is the etcd the apiserver stores its data in (under
	// /registry), http://127.0.0.1:<port>. Other users may share it under
	// their own keys.
	EtcdEndpoint string
	// CAFile verifies the apiserver's serving certificate; CACertPEM is its content.
	CAFile    string
	CACertPEM []byte
	// AdminToken is the bearer token of an admin (group system:masters).
	AdminToken string
	// StartupDuration is how long Start took.
	StartupDuration time.Duration

	nodes []*RealNode // real nodes, in start order

	opts    Options
	log     *slog.Logger
	tempDir bool
	procs   []*proc.Process // in start order

	stopOnce sync.Once
	stopErr  error
	stopped  chan struct{}
}

// Start starts the control plane and returns once the apiserver is ready
// and, when selected, the other components are healthy (and kwok's node is
// Ready). Cancelling ctx later stops the control plane, as Stop does.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	t0 := time.Now()
	if opts.BinDir == "" {
		opts.BinDir = DefaultBinDir()
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 3 * time.Minute
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 10 * time.Second
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", "localcp")

	bins := map[string]string{}
	var missing []string
	for _, name := range opts.binaries() {
		p := filepath.Join(opts.BinDir, name)
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			missing = append(missing, name)
			continue
		}
		bins[name] = p
	}
	if len(missing) > 0 {
		return nil, &MissingBinariesError{BinDir: opts.BinDir, Missing: missing}
	}
	if opts.RealNodes > 0 {
		if err := checkNodePackages(); err != nil {
			return nil, err
		}
		if opts.SandboxImage == "" {
			return nil, errors.New("localcp: real nodes need a SandboxImage (the pause image, imported from NodeImages)")
		}
	}

	cp := &ControlPlane{opts: opts, log: logger, stopped: make(chan struct{})}
	if opts.Dir == "" {
		d, err := os.MkdirTemp("", "localcp-")
		if err != nil {
			return nil, err
		}
		cp.Dir, cp.tempDir = d, true
	} else {
		d, err := filepath.Abs(opts.Dir)
		if err != nil {
			return nil, err
		}
		cp.Dir = d
	}
	if err := os.MkdirAll(filepath.Join(cp.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}

	sctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if err := cp.start(sctx, bins); err != nil {
		_ = cp.Stop()
		return nil, fmt.Errorf("localcp: start (work dir %s): %w", cp.Dir, err)
	}
	cp.StartupDuration = time.Since(t0)
	logger.Info("control plane ready", "apiserver", cp.APIServerURL, "etcd", cp.EtcdEndpoint,
		"kubeconfig", cp.KubeconfigPath, "took", cp.StartupDuration.Round(time.Millisecond))

	go func() {
		select {
		case <-ctx.Done():
			logger.Info("context done: stopping control plane")
			_ = cp.Stop()
		case <-cp.stopped:
		}
	}()
	return cp, nil
}

func (o Options) binaries() []string {
	b := []string{"etcd", "kube-apiserver"}
	if o.ControllerManager {
		b = append(b, "kube-controller-manager")
	}
	if o.Scheduler {
		b = append(b, "kube-scheduler")
	}
	if o.Kwok {
		b = append(b, "kwok")
	}
	if o.RealNodes > 0 {
		b = append(b, "kubelet")
	}
	return b
}

func (cp *ControlPlane) logPath(name string) string {
	return filepath.Join(cp.Dir, "logs", name+".log")
}

func (cp *ControlPlane) start(ctx context.Context, bins map[string]string) error {
	ports, err := freePorts(5)
	if err != nil {
		return err
	}
	etcdClientPort, etcdPeerPort, apiPort, kcmPort, schedPort := ports[0], ports[1], ports[2], ports[3], ports[4]

	// --- etcd
	t := time.Now()
	dataDir := filepath.Join(cp.Dir, "etcd")
	if err := os.RemoveAll(dataDir); err != nil {
		return err
	}
	cp.EtcdEndpoint = "http://127.0.0.1:" + strconv.Itoa(etcdClientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(etcdPeerPort)
	etcd, err := cp.spawn("etcd", bins["etcd"], []string{
		"--name=localcp",
		"--data-dir=" + dataDir,
		"--listen-client-urls=" + cp.EtcdEndpoint,
		"--advertise-client-urls=" + cp.EtcdEndpoint,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=localcp=" + peer,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync", // test data: durability is not wanted, speed is
		"--log-level=warn",
	}, nil)
	if err != nil {
		return err
	}
	if err := etcd.WaitFor(ctx, "healthy", func(ctx context.Context) error {
		return CheckEtcdHealth(ctx, cp.EtcdEndpoint)
	}); err != nil {
		return err
	}
	cp.log.Debug("etcd healthy", "endpoint", cp.EtcdEndpoint, "took", time.Since(t).Round(time.Millisecond))

	// --- certificates, tokens, kubeconfig
	pk, err := newPKI(filepath.Join(cp.Dir, "pki"), nodeNames(cp.opts.RealNodes))
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	cp.CAFile, cp.CACertPEM, cp.AdminToken = pk.CAFile, pk.CACertPEM, pk.AdminToken
	apiCert, err := pk.serving("kube-apiserver",
		[]string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		[]net.IP{net.ParseIP("10.0.0.1")})
	if err != nil {
		return err
	}
	cp.APIServerURL = "https://127.0.0.1:" + strconv.Itoa(apiPort)
	cp.KubeconfigPath = filepath.Join(cp.Dir, "kubeconfig")
	if err := cp.writeKubeconfig(cp.KubeconfigPath); err != nil {
		return err
	}

	// --- kube-apiserver
	t = time.Now()
	apiArgs := []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--tls-cert-file=" + apiCert.CertFile,
		"--tls-private-key-file=" + apiCert.KeyFile,
		"--client-ca-file=" + pk.CAFile,
		"--etcd-servers=" + cp.EtcdEndpoint,
		"--authorization-mode=Node,RBAC",
		"--token-auth-file=" + pk.TokenFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pk.SAPubFile,
		"--service-account-signing-key-file=" + pk.SAKeyFile,
		"--service-cluster-ip-range=" + ServiceClusterIPRange,
		"--allow-privileged=true",
		// The "kubernetes" Service gets no endpoints: 127.0.0.1 is not a valid
		// endpoint address and nothing in the cluster can reach it anyway.
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + filepath.Join(cp.Dir, "pki", "apiserver"),
		"--requestheader-client-ca-file=" + pk.FrontProxyCAFile,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + pk.FrontProxyClient.CertFile,
		"--proxy-client-key-file=" + pk.FrontProxyClient.KeyFile,
		// Real nodes: reached at their InternalIP (their hostnames resolve
		// nowhere), with a client certificate their kubelets trust.
		"--kubelet-preferred-address-types=InternalIP",
		"--kubelet-client-certificate=" + pk.KubeletClient.CertFile,
		"--kubelet-client-key=" + pk.KubeletClient.KeyFile,
	}
	if !cp.opts.ControllerManager {
		// Without kube-controller-manager no namespace gets its "default"
		// ServiceAccount, and the ServiceAccount admission plugin would then
		// reject every pod.
		apiArgs = append(apiArgs, "--disable-admission-plugins=ServiceAccount")
	}
	if cp.opts.AuditLog {
		audit, err := cp.auditArgs()
		if err != nil {
			return err
		}
		apiArgs = append(apiArgs, audit...)
	}
	apiArgs = append(apiArgs, cp.opts.APIServerArgs...)
	api, err := cp.spawn("kube-apiserver", bins["kube-apiserver"], apiArgs, nil)
	if err != nil {
		return err
	}
	httpc := cp.httpClient()
	if err := api.WaitFor(ctx, "/readyz OK", func(ctx context.Context) error {
		return checkHTTP(ctx, httpc, cp.APIServerURL+"/readyz", cp.AdminToken)
	}); err != nil {
		return err
	}
	cp.log.Debug("kube-apiserver ready", "url", cp.APIServerURL, "took", time.Since(t).Round(time.Millisecond))

	cs, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		return err
	}

	// --- kube-controller-manager
	if cp.opts.ControllerManager {
		t = time.Now()
		sp, err := pk.serving("kube-controller-manager", nil, nil)
		if err != nil {
			return err
		}
		kcm, err := cp.spawn("kube-controller-manager", bins["kube-controller-manager"], []string{
			"--kubeconfig=" + cp.KubeconfigPath,
			"--authentication-kubeconfig=" + cp.KubeconfigPath,
			"--authorization-kubeconfig=" + cp.KubeconfigPath,
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(kcmPort),
			"--tls-cert-file=" + sp.CertFile,
			"--tls-private-key-file=" + sp.KeyFile,
			"--leader-elect=false",
			"--controllers=*",
			"--service-account-private-key-file=" + pk.SAKeyFile,
			"--root-ca-file=" + pk.CAFile,
			"--cluster-signing-cert-file=" + pk.CAFile,
			"--cluster-signing-key-file=" + pk.CAKeyFile,
			"--service-cluster-ip-range=" + ServiceClusterIPRange,
		}, nil)
		if err != nil {
			return err
		}
		url := "https://127.0.0.1:" + strconv.Itoa(kcmPort) + "/healthz"
		if err := kcm.WaitFor(ctx, "/healthz OK", func(ctx context.Context) error {
			return checkHTTP(ctx, httpc, url, "")
		}); err != nil {
			return err
		}
		// Usable means pods can be created: the ServiceAccount controller has
		// made the "default" ServiceAccount.
		if err := kcm.WaitFor(ctx, "ServiceAccount default/default", func(ctx context.Context) error {
			_, err := cs.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
			return err
		}); err != nil {
			return err
		}
		cp.log.Debug("kube-controller-manager healthy", "took", time.Since(t).Round(time.Millisecond))
	}

	// --- kube-scheduler
	if cp.opts.Scheduler {
		t = time.Now()
		sp, err := pk.serving("kube-scheduler", nil, nil)
		if err != nil {
			return err
		}
		sched, err := cp.spawn("kube-scheduler", bins["kube-scheduler"], []string{
			"--kubeconfig=" + cp.KubeconfigPath,
			"--authentication-kubeconfig=" + cp.KubeconfigPath,
			"--authorization-kubeconfig=" + cp.KubeconfigPath,
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(schedPort),
			"--tls-cert-file=" + sp.CertFile,
			"--tls-private-key-file=" + sp.KeyFile,
			"--leader-elect=false",
		}, nil)
		if err != nil {
			return err
		}
		url := "https://127.0.0.1:" + strconv.Itoa(schedPort) + "/healthz"
		if err := sched.WaitFor(ctx, "/healthz OK", func(ctx context.Context) error {
			return checkHTTP(ctx, httpc, url, "")
		}); err != nil {
			return err
		}
		cp.log.Debug("kube-scheduler healthy", "took", time.Since(t).Round(time.Millisecond))
	}

	// --- real nodes
	if cp.opts.RealNodes > 0 {
		t = time.Now()
		helpers := filepath.Join(cp.Dir, "bin")
		if err := buildNodeHelpers(ctx, helpers); err != nil {
			return err
		}
		for i := range cp.opts.RealNodes {
			if _, err := cp.startRealNode(ctx, i, bins["kubelet"], helpers, pk, cs); err != nil {
				return err
			}
		}
		cp.log.Debug("real nodes ready", "nodes", cp.opts.RealNodes, "took", time.Since(t).Round(time.Millisecond))
	}

	// --- kwok
	if cp.opts.Kwok {
		t = time.Now()
		if err := cp.startKwok(ctx, bins["kwok"], cs); err != nil {
			return err
		}
		cp.log.Debug("kwok ready", "node", KwokNodeName, "took", time.Since(t).Round(time.Millisecond))
	}
	return nil
}

func (cp *ControlPlane) spawn(name, bin string, args, env []string) (*proc.Process, error) {
	p, err := start(name, bin, args, env, cp.logPath(name))
	if err != nil {
		return nil, err
	}
	cp.procs = append(cp.procs, p)
	cp.log.Debug("started", "process", name, "pid", p.PID(), "log", p.LogPath)
	return p, nil
}

// Stop stops every child process, in reverse start order, each by its PID:
// SIGTERM, then SIGKILL after Options.StopTimeout; it waits for them to exit.
// It removes a temporary work directory unless KeepDir. Safe to call more
// than once and concurrently.
func (cp *ControlPlane) Stop() error {
	cp.stopOnce.Do(func() {
		var errs []error
		// Nodes first, while the API server still answers their kubelets.
		for i := len(cp.nodes) - 1; i >= 0; i-- {
			if err := cp.nodes[i].stop(cp.opts.StopTimeout); err != nil {
				errs = append(errs, err)
			}
			cp.log.Debug("stopped", "node", cp.nodes[i].Name)
		}
		for i := len(cp.procs) - 1; i >= 0; i-- {
			p := cp.procs[i]
			if err := p.Stop(cp.opts.StopTimeout); err != nil {
				errs = append(errs, err)
			}
			cp.log.Debug("stopped", "process", p.Name, "pid", p.PID())
		}
		if cp.tempDir && !cp.opts.KeepDir {
			if err := os.RemoveAll(cp.Dir); err != nil {
				errs = append(errs, err)
			}
		}
		cp.stopErr = errors.Join(errs...)
		close(cp.stopped)
	})
	<-cp.stopped
	return cp.stopErr
}

// nodeNames are the names of n real nodes.
func nodeNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("sdp-node-%d", i+1)
	}
	return names
}

// PortOf is the port of one of the control plane's URLs
// (https://127.0.0.1:6443, http://127.0.0.1:2379).
func PortOf(url string) int {
	p, _ := strconv.Atoi(strings.TrimRight(url[strings.LastIndex(url, ":")+1:], "/"))
	return p
}

// Nodes are the real nodes, in start order.
func (cp *ControlPlane) Nodes() []*RealNode { return cp.nodes }

// Done is closed once the control plane has been stopped.
func (cp *ControlPlane) Done() <-chan struct{} { return cp.stopped }

// Exited reports the first child process that has exited on its own, if
// any: a running control plane has none.
func (cp *ControlPlane) Exited() error {
	for _, n := range cp.nodes {
		if n.init != nil && n.init.Exited() {
			select {
			case <-cp.stopped:
				return errStopped
			default:
			}
			return n.init.ExitError()
		}
	}
	for _, p := range cp.procs {
		if p.Exited() {
			select {
			case <-cp.stopped:
				return errStopped
			default:
			}
			return p.ExitError()
		}
	}
	return nil
}

// PIDs maps component names to their process ids.
func (cp *ControlPlane) PIDs() map[string]int {
	m := make(map[string]int, len(cp.procs))
	for _, p := range cp.procs {
		m[p.Name] = p.PID()
	}
	return m
}

// LogPath is the log file of a component ("etcd", "kube-apiserver", …).
func (cp *ControlPlane) LogPath(component string) string { return cp.logPath(component) }

// RESTConfig returns a new admin client configuration for the apiserver. Its
// rate limits are raised (QPS 200, burst 400) for tests; change them at will.
func (cp *ControlPlane) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:            cp.APIServerURL,
		BearerToken:     cp.AdminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: append([]byte(nil), cp.CACertPEM...)},
		QPS:             200,
		Burst:           400,
	}
}

// Env returns the environment a client of this control plane needs, as
// NAME=value strings: KUBECONFIG, ETCD_ENDPOINT and the SDP_CONFIG_HOST /
// SDP_CONFIG_PORT pair that the services read.
func (cp *ControlPlane) Env() []string {
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(cp.EtcdEndpoint, "http://"))
	return []string{
		"KUBECONFIG=" + cp.KubeconfigPath,
		"ETCD_ENDPOINT=" + cp.EtcdEndpoint,
		"SDP_CONFIG_HOST=" + host,
		"SDP_CONFIG_PORT=" + port,
	}
}

func (cp *ControlPlane) writeKubeconfig(path string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["localcp"] = &clientcmdapi.Cluster{
		Server:                   cp.APIServerURL,
		CertificateAuthorityData: cp.CACertPEM,
	}
	cfg.AuthInfos["localcp-admin"] = &clientcmdapi.AuthInfo{Token: cp.AdminToken}
	cfg.Contexts["localcp"] = &clientcmdapi.Context{Cluster: "localcp", AuthInfo: "localcp-admin", Namespace: metav1.NamespaceDefault}
	cfg.CurrentContext = "localcp"
	return clientcmd.WriteToFile(*cfg, path)
}

// httpClient trusts only the control plane's CA.
func (cp *ControlPlane) httpClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cp.CACertPEM)
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		Timeout:   5 * time.Second,
	}
}

func checkHTTP(ctx context.Context, c *http.Client, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// CheckEtcdHealth asks an etcd member at endpoint (http://host:port) for
// /health and says why it is not healthy.
func CheckEtcdHealth(ctx context.Context, endpoint string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var h struct {
		Health string `json:"health"`
		Reason string `json:"reason"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return fmt.Errorf("etcd /health: %s: %w", resp.Status, err)
	}
	if h.Health != "true" {
		return fmt.Errorf("etcd /health: %s %q", resp.Status, h.Reason)
	}
	return nil
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. They are free
// when found; a process started soon after binds them.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ensureNode creates node if it does not exist.
func ensureNode(ctx context.Context, cs kubernetes.Interface, node *corev1.Node) error {
	_, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
