// Command sdp-receiver stands in for a processing workload (such as a
// visibility receiver) on the test node, built by tools/images as
// sdp-helmdeploy/receiver and run by charts/examples/demo-receive. What it
// does is chosen by flags, so that a test can make a pod that becomes
// ready late, completes, crashes or is OOM-killed:
//
//	sdp-receiver [--port=9000] [--ready-after=0] [--exit-after=0 --exit-code=0] [--alloc-mib=0]
//	sdp-receiver probe [--port=9000] [--timeout=1s]
//
// It serves GET /healthz (200 once ready, 503 before) and /exit?code=N
// (answers, then exits with N). --exit-after=D exits with --exit-code after
// D; D=0 runs until SIGTERM or SIGINT (exit 0), unless the code is not 0:
// then it exits with it at once, a crash loop. --alloc-mib=N allocates and
// touches N MiB at start and keeps them, so that a memory limit below N
// has the kernel OOM-kill it. `probe` asks 127.0.0.1:<port>/healthz and
// exits 0 when healthy, 1 otherwise: the pod's readiness probe is an exec
// probe, as the kubelet cannot reach a pod network namespace that holds
// only loopback. Each event is one line on stdout; bad flags exit 2.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config is what the receiver was asked to do.
type config struct {
	port       int
	readyAfter time.Duration
	exitAfter  time.Duration
	exitCode   int
	allocMiB   int
}

// probeConfig is what probe asks.
type probeConfig struct {
	port    int
	timeout time.Duration
}

// run is main but for the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stdout, nil))
	if len(args) > 0 && args[0] == "probe" {
		pc, err := parseProbe(args[1:], stderr)
		if err != nil {
			return usageCode(err)
		}
		return probe(pc, log)
	}
	c, err := parse(args, stderr)
	if err != nil {
		return usageCode(err)
	}
	return serve(c, log)
}

func usageCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("sdp-receiver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.port, "port", 9000, "TCP port of /healthz and /exit (0: any free port, logged)")
	fs.DurationVar(&c.readyAfter, "ready-after", 0, "become ready (/healthz 200) this long after start")
	fs.DurationVar(&c.exitAfter, "exit-after", 0, "exit with --exit-code this long after start (0: never, unless --exit-code is not 0: at once)")
	fs.IntVar(&c.exitCode, "exit-code", 0, "the exit code of --exit-after, 0-255")
	fs.IntVar(&c.allocMiB, "alloc-mib", 0, "allocate and touch this many MiB at start and keep them")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	var err error
	switch {
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected arguments %q", fs.Args())
	case c.port < 0 || c.port > 65535:
		err = fmt.Errorf("--port=%d: want 0-65535", c.port)
	case c.readyAfter < 0 || c.exitAfter < 0:
		err = errors.New("--ready-after and --exit-after cannot be negative")
	case c.exitCode < 0 || c.exitCode > 255:
		err = fmt.Errorf("--exit-code=%d: want 0-255", c.exitCode)
	case c.allocMiB < 0:
		err = fmt.Errorf("--alloc-mib=%d: cannot be negative", c.allocMiB)
	}
	if err != nil {
		fmt.Fprintln(stderr, "sdp-receiver:", err)
	}
	return c, err
}

func parseProbe(args []string, stderr io.Writer) (probeConfig, error) {
	var pc probeConfig
	fs := flag.NewFlagSet("sdp-receiver probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&pc.port, "port", 9000, "the receiver's port")
	fs.DurationVar(&pc.timeout, "timeout", time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return probeConfig{}, err
	}
	var err error
	switch {
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected arguments %q", fs.Args())
	case pc.port < 1 || pc.port > 65535:
		err = fmt.Errorf("--port=%d: want 1-65535", pc.port)
	case pc.timeout <= 0:
		err = fmt.Errorf("--timeout=%v: must be positive", pc.timeout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "sdp-receiver probe:", err)
	}
	return pc, err
}

// probe is the readiness check: it runs inside the container, where the
// receiver's loopback is.
func probe(pc probeConfig, log *slog.Logger) int {
	client := &http.Client{Timeout: pc.timeout}
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", pc.port)
	resp, err := client.Get(url)
	if err != nil {
		log.Info("probe: unhealthy", "url", url, "err", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		log.Info("probe: unhealthy", "url", url, "status", resp.StatusCode)
		return 1
	}
	log.Info("probe: healthy", "url", url)
	return 0
}

// ballast keeps what --alloc-mib allocated reachable, so that it stays
// resident for as long as the process runs.
var ballast []byte

func serve(c config, log *slog.Logger) int {
	log.Info("starting", "port", c.port, "readyAfter", c.readyAfter, "exitAfter", c.exitAfter, "exitCode", c.exitCode, "allocMiB", c.allocMiB)
	// Early, so that a SIGTERM while allocating still ends it with 0, not
	// by the signal.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	if c.allocMiB > 0 {
		ballast = make([]byte, c.allocMiB<<20)
		// Untouched pages are not resident and count against no limit.
		for i := 0; i < len(ballast); i += 4096 {
			ballast[i] = 1
		}
		log.Info("allocated", "mib", c.allocMiB)
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(c.port))
	if err != nil {
		log.Error("listen", "err", err)
		return 1
	}
	log.Info("listening", "addr", ln.Addr().String(), "port", ln.Addr().(*net.TCPAddr).Port)

	var ready atomic.Bool
	exitReq := make(chan int, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.URL.Query().Get("code"))
		if err != nil || code < 0 || code > 255 {
			http.Error(w, "want /exit?code=N, N 0-255", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "exiting with %d\n", code)
		select {
		case exitReq <- code:
		default: // another request already asked
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)

	readyC := time.After(c.readyAfter)
	var exitC <-chan time.Time
	if c.exitAfter > 0 || c.exitCode != 0 {
		exitC = time.After(c.exitAfter)
	}
	code := 0
loop:
	for {
		select {
		case <-readyC:
			readyC = nil
			ready.Store(true)
			log.Info("ready")
		case <-exitC:
			code = c.exitCode
			log.Info("exiting", "code", code, "reason", "--exit-after")
			break loop
		case code = <-exitReq:
			log.Info("exiting", "code", code, "reason", "/exit")
			break loop
		case s := <-sigs:
			log.Info("exiting", "code", 0, "reason", s.String())
			break loop
		}
	}
	// Lets an /exit request's answer reach its client.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	return code
}
