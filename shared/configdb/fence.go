package configdb

import (
	"context"
	"errors"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Fence is a condition every write of a Store bound to it carries in its
// own transaction: a term of leadership (leader.Term), whose Cmp holds only
// while this process's election key is the one its term created. A process
// paused past the end of its term thus cannot write when it resumes.
type Fence interface {
	Cmp() clientv3.Cmp
}

// ErrFenced is returned (wrapped) by a write its fence refused; nothing
// was written. It is not a conflict with another writer: retrying cannot
// help, since the term is over.
var ErrFenced = errors.New("write fenced out: this replica's term of leadership has ended")

// WriteObserver is told of every write of a Store: the revision of each
// one committed, and each one fenced out.
type WriteObserver interface {
	WriteCommitted(rev int64)
	WriteFenced()
}

// Fenced returns a Store over the same client whose every write carries
// f's condition; a nil f leaves writes unfenced.
func (s *Store) Fenced(f Fence) *Store {
	c := *s
	c.fence = f
	return &c
}

// SetWriteObserver sets the observer of the store's writes, and of the
// fenced stores made from it afterwards.
func (s *Store) SetWriteObserver(o WriteObserver) { s.observer = o }

// txnResult is what commit returns of a write transaction.
type txnResult struct {
	// succeeded says which branch ran: then or else.
	succeeded bool
	responses []*pb.ResponseOp
	// revision is the etcd revision after the transaction.
	revision int64
}

// commit runs If(conds) Then(then) Else(els) under the store's fence. The
// fence goes into the same transaction, as the condition of an outer one
// that holds the write as a nested transaction, so that a refusal by the
// fence (ErrFenced, nothing written) is told apart from conds failing
// (succeeded false, the else responses). The caller reports the write with
// wrote once it knows it changed something.
func (s *Store) commit(ctx context.Context, conds []clientv3.Cmp, then, els []clientv3.Op) (txnResult, error) {
	if s.fence == nil {
		resp, err := s.client.Txn(ctx).If(conds...).Then(then...).Else(els...).Commit()
		if err != nil {
			return txnResult{}, err
		}
		return txnResult{succeeded: resp.Succeeded, responses: resp.Responses, revision: resp.Header.Revision}, nil
	}
	resp, err := s.client.Txn(ctx).If(s.fence.Cmp()).Then(clientv3.OpTxn(conds, then, els)).Commit()
	if err != nil {
		return txnResult{}, err
	}
	if !resp.Succeeded {
		if s.observer != nil {
			s.observer.WriteFenced()
		}
		return txnResult{revision: resp.Header.Revision}, ErrFenced
	}
	inner := resp.Responses[0].GetResponseTxn()
	return txnResult{succeeded: inner.Succeeded, responses: inner.Responses, revision: resp.Header.Revision}, nil
}

// wrote reports a committed write that changed the config DB at rev.
func (s *Store) wrote(rev int64) {
	if s.observer != nil {
		s.observer.WriteCommitted(rev)
	}
}
