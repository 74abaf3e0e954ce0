package e2e

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/proc"
)

// Etcd is the config DB: a real etcd process on loopback ports, which can be
// stopped and started again on the same ports and data.
type Etcd struct {
	// Endpoint is http://127.0.0.1:<client port>.
	Endpoint string
	Port     int

	bin, dir string
	args     []string
	proc     *proc.Process
}

// StartEtcd starts etcd from bin with its data and log in dir.
func StartEtcd(ctx context.Context, bin, dir string) (*Etcd, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	e := &Etcd{Port: ports[0], bin: bin, dir: dir}
	e.Endpoint = "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	e.args = []string{
		"--name=configdb",
		"--data-dir=" + filepath.Join(dir, "data"),
		"--listen-client-urls=" + e.Endpoint,
		"--advertise-client-urls=" + e.Endpoint,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=configdb=" + peer,
		"--initial-cluster-state=new",
		// Processing scripts may write many entries in one transaction.
		"--max-txn-ops=10000",
		"--log-level=warn",
	}
	return e, e.Start(ctx)
}

// Start starts the (stopped) server and waits until it is healthy.
func (e *Etcd) Start(ctx context.Context) error {
	p, err := proc.Start(proc.Options{Name: "etcd", Bin: e.bin, Args: e.args, LogPath: filepath.Join(e.dir, "etcd.log"), Header: true})
	if err != nil {
		return err
	}
	e.proc = p
	return p.WaitFor(ctx, "healthy", func(ctx context.Context) error {
		return localcp.CheckEtcdHealth(ctx, e.Endpoint)
	})
}

// Stop stops the server cleanly (its data stays for Start). Stopping a
// stopped server is fine.
func (e *Etcd) Stop() error {
	if e.proc == nil {
		return nil
	}
	return e.proc.Stop(10 * time.Second)
}

// PID is the current process id.
func (e *Etcd) PID() int { return e.proc.PID() }

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
