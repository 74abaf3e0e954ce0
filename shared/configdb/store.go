package configdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultMaxRetries bounds the compare-and-swap retries of one state update.
// Conflicts only happen when two writers touch the same entry in the same
// few milliseconds, so running out means something is writing in a loop.
const DefaultMaxRetries = 32

// ErrTooManyConflicts is returned when a state update lost its
// compare-and-swap race DefaultMaxRetries times in a row.
var ErrTooManyConflicts = errors.New("state update kept conflicting with other writers")

// ErrConflict is returned (wrapped) by a compare-and-swap write that found
// the entry changed by another writer since it was read.
var ErrConflict = errors.New("changed by another writer")

// Store reads and writes the config DB in typed values. It is safe for
// concurrent use.
type Store struct {
	client       *clientv3.Client
	layout       Layout
	log          *slog.Logger
	watchBackoff Backoff
	// fence, if set, conditions every write (see Fenced).
	fence    Fence
	observer WriteObserver
}

// Backoff bounds the wait between a watch's attempts to read again after
// an error: the first wait is Min, each next one doubles, up to Max.
type Backoff struct{ Min, Max time.Duration }

// DefaultWatchBackoff retries quickly enough that a config DB back from a
// restart is noticed within seconds, and seldom enough that an absent one
// is not flooded.
var DefaultWatchBackoff = Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}

// StoreOption changes a Store as NewStore builds it.
type StoreOption func(*Store)

// WithWatchBackoff sets the retry bounds of the store's watches.
func WithWatchBackoff(b Backoff) StoreOption {
	return func(s *Store) { s.watchBackoff = b }
}

// NewStore returns a Store over client for the global prefix ("" for none).
func NewStore(client *clientv3.Client, prefix string, opts ...StoreOption) (*Store, error) {
	layout, err := NewLayout(prefix)
	if err != nil {
		return nil, err
	}
	s := &Store{client: client, layout: layout, watchBackoff: DefaultWatchBackoff}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Layout returns the store's key layout.
func (s *Store) Layout() Layout { return s.layout }

// Client returns the underlying etcd client, for leader election and
// health checks.
func (s *Store) Client() *clientv3.Client { return s.client }

// EntryError is an entry that could not be decoded. ID is the deployment
// id taken from the key, so the error can be reported in the state entry.
type EntryError struct {
	ID  string
	Err error
}

func (e EntryError) Error() string { return e.Err.Error() }
func (e EntryError) Unwrap() error { return e.Err }

// DeploymentList is every deployment entry at one revision.
type DeploymentList struct {
	// Revision is the etcd revision the list was read at; a watch from
	// Revision+1 misses nothing.
	Revision int64
	// Deployments are the entries that decoded, of every kind.
	Deployments []Deployment
	// Errors are the entries that did not decode.
	Errors []EntryError
}

// ListDeployments reads every deployment entry in one consistent read.
func (s *Store) ListDeployments(ctx context.Context) (DeploymentList, error) {
	resp, err := s.client.Get(ctx, s.layout.DeploymentsPrefix(), clientv3.WithPrefix())
	if err != nil {
		return DeploymentList{}, fmt.Errorf("list deployments: %w", err)
	}
	list := DeploymentList{Revision: resp.Header.Revision}
	for _, kv := range resp.Kvs {
		d, err := s.decodeDeploymentKV(kv.Key, kv.Value)
		if err != nil {
			var ee EntryError
			if errors.As(err, &ee) {
				list.Errors = append(list.Errors, ee)
			}
			continue
		}
		list.Deployments = append(list.Deployments, d)
	}
	return list, nil
}

// decodeDeploymentKV decodes one deployment KV; errors are EntryErrors,
// with an empty ID when even the key is unusable.
func (s *Store) decodeDeploymentKV(key, value []byte) (Deployment, error) {
	id, err := s.layout.DeploymentID(string(key))
	if err != nil {
		return Deployment{}, EntryError{Err: err}
	}
	d, err := DecodeDeployment(id, value)
	if err != nil {
		return d, EntryError{ID: id, Err: err}
	}
	if err := ValidateID(id); err != nil {
		return d, EntryError{ID: id, Err: fmt.Errorf("%w /deploy/%s: %w", ErrBadDeployment, id, err)}
	}
	return d, nil
}

// GetDeployment reads one deployment entry; found is false when there is
// none.
func (s *Store) GetDeployment(ctx context.Context, id string) (d Deployment, found bool, err error) {
	resp, err := s.client.Get(ctx, s.layout.DeploymentKey(id))
	if err != nil {
		return Deployment{}, false, fmt.Errorf("get deployment %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return Deployment{}, false, nil
	}
	d, err = s.decodeDeploymentKV(resp.Kvs[0].Key, resp.Kvs[0].Value)
	return d, true, err
}

// ErrExists is returned by CreateDeployment when the entry already exists.
var ErrExists = errors.New("deployment entry already exists")

// CreateDeployment writes a new deployment entry, failing with ErrExists if
// one is already there.
func (s *Store) CreateDeployment(ctx context.Context, d Deployment) error {
	if err := ValidateID(d.ID); err != nil {
		return err
	}
	value, err := d.Encode()
	if err != nil {
		return err
	}
	key := s.layout.DeploymentKey(d.ID)
	res, err := s.commit(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)},
		[]clientv3.Op{clientv3.OpPut(key, string(value))}, nil)
	if err != nil {
		return fmt.Errorf("create deployment %s: %w", d.ID, err)
	}
	if !res.succeeded {
		return fmt.Errorf("create deployment %s: %w", d.ID, ErrExists)
	}
	s.wrote(res.revision)
	return nil
}

// PutDeployment writes a deployment entry, replacing any that exists.
func (s *Store) PutDeployment(ctx context.Context, d Deployment) error {
	if err := ValidateID(d.ID); err != nil {
		return err
	}
	value, err := d.Encode()
	if err != nil {
		return err
	}
	res, err := s.commit(ctx, nil, []clientv3.Op{clientv3.OpPut(s.layout.DeploymentKey(d.ID), string(value))}, nil)
	if err != nil {
		return fmt.Errorf("put deployment %s: %w", d.ID, err)
	}
	s.wrote(res.revision)
	return nil
}

// DeleteDeployment removes a deployment entry and its state entry in one
// transaction, so that no orphan state is left behind; found is false when there
// was no entry.
func (s *Store) DeleteDeployment(ctx context.Context, id string) (found bool, err error) {
	res, err := s.commit(ctx, nil, []clientv3.Op{
		clientv3.OpDelete(s.layout.DeploymentKey(id)),
		clientv3.OpDelete(s.layout.StateKey(id)),
	}, nil)
	if err != nil {
		return false, fmt.Errorf("delete deployment %s: %w", id, err)
	}
	found = res.responses[0].GetResponseDeleteRange().Deleted > 0
	if found || res.responses[1].GetResponseDeleteRange().Deleted > 0 {
		s.wrote(res.revision)
	}
	return found, nil
}

// GetState reads a deployment's state entry; found is false when there is
// none.
func (s *Store) GetState(ctx context.Context, id string) (st DeploymentState, found bool, err error) {
	resp, err := s.client.Get(ctx, s.layout.StateKey(id))
	if err != nil {
		return st, false, fmt.Errorf("get state %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return st, false, nil
	}
	st, err = DecodeState(resp.Kvs[0].Value)
	if err != nil {
		return st, true, fmt.Errorf("state of %s: %w", id, err)
	}
	return st, true, nil
}

// StateIDs lists the ids of every state entry, whether or not its
// deployment exists, with the revision of the read.
func (s *Store) StateIDs(ctx context.Context) ([]string, int64, error) {
	resp, err := s.client.Get(ctx, s.layout.StatesPrefix(), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, 0, fmt.Errorf("list state entries: %w", err)
	}
	var ids []string
	for _, kv := range resp.Kvs {
		if id, ok := s.layout.StateID(string(kv.Key)); ok {
			ids = append(ids, id)
		}
	}
	return ids, resp.Header.Revision, nil
}

// UpdateResult says what a state update did.
type UpdateResult struct {
	// Written is true when the entry was changed in etcd.
	Written bool
	// Conflicts counts the compare-and-swap attempts lost to other writers.
	Conflicts int
	// Revision is the etcd revision of the write, or of the last read when
	// nothing was written.
	Revision int64
}

// UpdatePods sets the "pods" part of a deployment's state entry to what fn
// returns for the current map. Everything else in the entry is kept, the
// reasons part too (the pod-monitor writes both with UpdatePodReport), and
// nothing is written when the map is unchanged.
func (s *Store) UpdatePods(ctx context.Context, id string, fn func(cur map[string]PodStatus) map[string]PodStatus) (UpdateResult, error) {
	return s.updatePart(ctx, id, PartPods, podsPart(fn))
}

// UpdateRelease sets the "release" part of a deployment's state entry to
// what fn returns for the current one (exists is false when there is none).
// Fields of the part that ReleaseStatus does not know are kept, as is the
// rest of the entry, and nothing is written when nothing changed.
func (s *Store) UpdateRelease(ctx context.Context, id string, fn func(cur ReleaseStatus, exists bool) ReleaseStatus) (UpdateResult, error) {
	return s.updatePart(ctx, id, PartRelease, releasePart(fn))
}

// updatePart changes one part of a state entry (see updateDoc).
func (s *Store) updatePart(ctx context.Context, id, part string, mutate partMutation) (UpdateResult, error) {
	return s.updateDoc(ctx, id, part, func(doc map[string]any) (bool, error) { return applyPart(doc, part, mutate) })
}

// updateDoc is the one compare-and-swap loop for state entries: change
// edits the decoded entry in place and reports whether it changed; part
// names what it edits, for errors. The
// transaction both checks the state entry's mod revision (so no other
// writer's change is overwritten) and that the deployment entry exists (so
// state is never created for, or recreated after, a deleted deployment).
// A lost race returns the fresh entry in the same round trip.
func (s *Store) updateDoc(ctx context.Context, id, part string, change func(doc map[string]any) (bool, error)) (UpdateResult, error) {
	var res UpdateResult
	dkey, skey := s.layout.DeploymentKey(id), s.layout.StateKey(id)
	read, err := s.client.Txn(ctx).Then(
		clientv3.OpGet(dkey, clientv3.WithCountOnly()),
		clientv3.OpGet(skey),
	).Commit()
	if err != nil {
		return res, fmt.Errorf("update %s of %s: read: %w", part, id, err)
	}
	revision, responses := read.Header.Revision, read.Responses
	for {
		res.Revision = revision
		if responses[0].GetResponseRange().Count == 0 {
			return res, fmt.Errorf("update %s of %s: %w", part, id, ErrNoDeployment)
		}
		var modRev int64
		var current []byte
		if kvs := responses[1].GetResponseRange().Kvs; len(kvs) > 0 {
			modRev, current = kvs[0].ModRevision, kvs[0].Value
		}
		doc, err := decodeStateDoc(current)
		if err != nil {
			return res, fmt.Errorf("update %s of %s: %w", part, id, err)
		}
		changed, err := change(doc)
		if err != nil {
			return res, fmt.Errorf("update %s of %s: %w", part, id, err)
		}
		if !changed {
			return res, nil
		}
		value, err := encodeValue(doc)
		if err != nil {
			return res, fmt.Errorf("update %s of %s: %w", part, id, err)
		}
		resp, err := s.commit(ctx,
			[]clientv3.Cmp{
				clientv3.Compare(clientv3.CreateRevision(dkey), ">", 0),
				clientv3.Compare(clientv3.ModRevision(skey), "=", modRev),
			},
			[]clientv3.Op{clientv3.OpPut(skey, string(value))},
			[]clientv3.Op{
				clientv3.OpGet(dkey, clientv3.WithCountOnly()),
				clientv3.OpGet(skey),
			})
		if err != nil {
			return res, fmt.Errorf("update %s of %s: write: %w", part, id, err)
		}
		res.Revision = resp.revision
		if resp.succeeded {
			res.Written = true
			s.wrote(resp.revision)
			return res, nil
		}
		res.Conflicts++
		if res.Conflicts >= DefaultMaxRetries {
			return res, fmt.Errorf("update %s of %s: %w (%d attempts)", part, id, ErrTooManyConflicts, res.Conflicts)
		}
		revision, responses = resp.revision, resp.responses
	}
}

// DeleteOrphanState removes a deployment's state entry if, and only if, the
// deployment entry does not exist, checked in the same transaction.
func (s *Store) DeleteOrphanState(ctx context.Context, id string) (deleted bool, err error) {
	dkey, skey := s.layout.DeploymentKey(id), s.layout.StateKey(id)
	res, err := s.commit(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(dkey), "=", 0)},
		[]clientv3.Op{clientv3.OpDelete(skey)}, nil)
	if err != nil {
		return false, fmt.Errorf("delete orphan state of %s: %w", id, err)
	}
	deleted = res.succeeded && res.responses[0].GetResponseDeleteRange().Deleted > 0
	if deleted {
		s.wrote(res.revision)
	}
	return deleted, nil
}
