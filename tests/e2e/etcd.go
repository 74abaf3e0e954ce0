package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/proc"
)

// ConfigDBMembers is the size of the config DB cluster, as production runs
// it: one member may be lost and the cluster still has a quorum.
const ConfigDBMembers = 3

// Etcd is one member of the config DB cluster: a real etcd process on
// loopback ports, which can be stopped (or killed) and started again on
// the same ports and data, and rejoins.
type Etcd struct {
	Name string
	// Endpoint is http://127.0.0.1:<client port>.
	Endpoint string
	Port     int

	bin, dir string
	args     []string

	mu   sync.Mutex
	proc *proc.Process
}

// ConfigDB is the config DB: a cluster of etcd members, each behind its own
// proxy so that a test can cut the services off one member (or all) while
// it runs. The test itself reaches the members directly.
type ConfigDB struct {
	Members []*Etcd
	// Proxies[i] forwards to Members[i].
	Proxies []*Proxy
}

// StartConfigDB starts n etcd members from bin, each with its data and log
// in dir/<name>, and a proxy in front of each, and waits until all are
// healthy. On error, what was started is stopped.
func StartConfigDB(ctx context.Context, bin, dir string, n int) (db *ConfigDB, err error) {
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	db = &ConfigDB{}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	var cluster []string
	for i := range n {
		name := fmt.Sprintf("configdb-%d", i)
		cluster = append(cluster, name+"=http://127.0.0.1:"+strconv.Itoa(ports[2*i+1]))
	}
	for i := range n {
		e := &Etcd{Name: fmt.Sprintf("configdb-%d", i), Port: ports[2*i], bin: bin, dir: filepath.Join(dir, fmt.Sprintf("configdb-%d", i))}
		e.Endpoint = "http://127.0.0.1:" + strconv.Itoa(e.Port)
		peer := "http://127.0.0.1:" + strconv.Itoa(ports[2*i+1])
		e.args = []string{
			"--name=" + e.Name,
			"--data-dir=" + filepath.Join(e.dir, "data"),
			"--listen-client-urls=" + e.Endpoint,
			"--advertise-client-urls=" + e.Endpoint,
			"--listen-peer-urls=" + peer,
			"--initial-advertise-peer-urls=" + peer,
			// Ignored once the data directory holds a member: a restart
			// rejoins with what it has.
			"--initial-cluster=" + strings.Join(cluster, ","),
			"--initial-cluster-state=new",
			"--initial-cluster-token=e2e-configdb",
			// Processing scripts may write many entries in one transaction.
			"--max-txn-ops=10000",
			// A killed process loses nothing the kernel has (what kill -9
			// does); only a crash of the machine would, which no fault here
			// is. Three members' fsyncs on one shared disk would slow the
			// whole run down instead.
			"--unsafe-no-fsync",
			"--log-level=warn",
		}
		db.Members = append(db.Members, e)
	}
	if err := db.Start(ctx); err != nil {
		return db, err
	}
	for _, m := range db.Members {
		p, err := StartProxy(strings.TrimPrefix(m.Endpoint, "http://"))
		if err != nil {
			return db, fmt.Errorf("config DB proxy: %w", err)
		}
		db.Proxies = append(db.Proxies, p)
	}
	return db, nil
}

// Endpoints are the members' client URLs, for a client that reaches them
// directly.
func (db *ConfigDB) Endpoints() []string {
	var out []string
	for _, m := range db.Members {
		out = append(out, m.Endpoint)
	}
	return out
}

// ProxyHosts are the proxies' host:port, comma-separated, as
// SDP_CONFIG_HOST lists the members of a cluster.
func (db *ConfigDB) ProxyHosts() string {
	var out []string
	for _, p := range db.Proxies {
		out = append(out, p.Addr)
	}
	return strings.Join(out, ",")
}

// Start starts every stopped member at once (a lone member of a cluster
// without a quorum is never healthy) and waits until all are healthy.
func (db *ConfigDB) Start(ctx context.Context) error {
	for _, m := range db.Members {
		if err := m.spawn(); err != nil {
			return err
		}
	}
	for _, m := range db.Members {
		if err := m.WaitHealthy(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops every member (SIGTERM, at once; SIGKILL after 10 s, as a
// pod's grace period ends) and returns the names of those that had to be
// killed: under load a member may wait on its open watch streams for long.
// Their data stays for Start. Stopped members are left as they are. The
// error says a member still runs.
func (db *ConfigDB) Stop() (killed []string, err error) {
	errs := make([]error, len(db.Members))
	var wg sync.WaitGroup
	for i, m := range db.Members {
		wg.Go(func() { errs[i] = m.Stop() })
	}
	wg.Wait()
	var still []error
	for i, m := range db.Members {
		switch p := m.Proc(); {
		case errs[i] == nil:
		case p != nil && p.Exited():
			killed = append(killed, m.Name)
		default:
			still = append(still, errs[i])
		}
	}
	return killed, errors.Join(still...)
}

// CutAll cuts the services off every member (see Proxy.Cut); HealAll
// undoes it.
func (db *ConfigDB) CutAll() {
	for _, p := range db.Proxies {
		p.Cut()
	}
}

// HealAll undoes CutAll.
func (db *ConfigDB) HealAll() {
	for _, p := range db.Proxies {
		p.Heal()
	}
}

// Close stops the proxies and the members.
func (db *ConfigDB) Close() error {
	for _, p := range db.Proxies {
		p.Close()
	}
	_, err := db.Stop()
	return err
}

// RaftLeader returns the index of the member that leads the cluster's
// raft, asking each member through client.
func (db *ConfigDB) RaftLeader(ctx context.Context, client *clientv3.Client) (int, error) {
	ids := map[uint64]int{}
	var leader uint64
	var errs []error
	for i, m := range db.Members {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := client.Status(sctx, m.Endpoint)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.Name, err))
			continue
		}
		ids[st.Header.MemberId] = i
		if st.Leader != 0 {
			leader = st.Leader
		}
	}
	if i, ok := ids[leader]; ok {
		return i, nil
	}
	return -1, fmt.Errorf("no member named the raft leader among those that answered: %w", errors.Join(errs...))
}

// spawn starts the member's process unless it runs.
func (e *Etcd) spawn() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.proc != nil && !e.proc.Exited() {
		return nil
	}
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return err
	}
	p, err := proc.Start(proc.Options{Name: e.Name, Bin: e.bin, Args: e.args, LogPath: e.dir + ".log", Header: true})
	if err != nil {
		return err
	}
	e.proc = p
	return nil
}

// Start starts the (stopped or killed) member and waits until it is
// healthy: back in the cluster.
func (e *Etcd) Start(ctx context.Context) error {
	if err := e.spawn(); err != nil {
		return err
	}
	return e.WaitHealthy(ctx)
}

// WaitHealthy waits until the member answers /health with true.
func (e *Etcd) WaitHealthy(ctx context.Context) error {
	return e.Proc().WaitFor(ctx, "healthy", func(ctx context.Context) error {
		return localcp.CheckEtcdHealth(ctx, e.Endpoint)
	})
}

// Stop stops the member cleanly (its data stays for Start). Stopping a
// stopped member is fine.
func (e *Etcd) Stop() error {
	if p := e.Proc(); p != nil {
		return p.Stop(10 * time.Second)
	}
	return nil
}

// Kill kills the member with SIGKILL, as a node failure would.
func (e *Etcd) Kill() {
	if p := e.Proc(); p != nil {
		p.Kill()
	}
}

// Proc is the member's current process.
func (e *Etcd) Proc() *proc.Process {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.proc
}

// PID is the current process id.
func (e *Etcd) PID() int { return e.Proc().PID() }

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
