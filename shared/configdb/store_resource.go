package configdb

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ResourceList is the resource entries this deployer owns, at one revision.
type ResourceList struct {
	Revision int64
	// Resources maps entry names to their decoded entries.
	Resources map[string]Resource
	// Undecodable are owned entry names whose value did not decode; they are
	// rewritten or removed like any other owned entry.
	Undecodable []string
}

// ListResources reads the owned entries under /resource/ (see
// IsOwnedResourceID); others are not returned.
func (s *Store) ListResources(ctx context.Context) (ResourceList, error) {
	resp, err := s.client.Get(ctx, s.layout.ResourcesPrefix(), clientv3.WithPrefix())
	if err != nil {
		return ResourceList{}, fmt.Errorf("list resources: %w", err)
	}
	list := ResourceList{Revision: resp.Header.Revision, Resources: map[string]Resource{}}
	for _, kv := range resp.Kvs {
		path, err := s.layout.Path(string(kv.Key))
		if err != nil {
			continue
		}
		id := strings.TrimPrefix(path, ResourceDir)
		if !IsOwnedResourceID(id) {
			continue
		}
		r, err := DecodeResource(id, kv.Value)
		if err != nil {
			list.Undecodable = append(list.Undecodable, id)
			continue
		}
		list.Resources[id] = r
	}
	return list, nil
}

// PutResource writes a resource entry unless the stored one already has the
// same value; written says whether etcd was changed.
func (s *Store) PutResource(ctx context.Context, r Resource) (written bool, err error) {
	value, err := encodeResource(r)
	if err != nil {
		return false, err
	}
	key := s.layout.Key(ResourcePath(r.ID()))
	cur, err := s.client.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("read resource %s: %w", r.ID(), err)
	}
	modRev := int64(0)
	if len(cur.Kvs) > 0 {
		if bytes.Equal(cur.Kvs[0].Value, value) {
			return false, nil
		}
		modRev = cur.Kvs[0].ModRevision
	}
	// Compare-and-swap, so that a racing second replica (during a leader
	// hand-over) cannot make this write undo a newer one.
	res, err := s.commit(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", modRev)},
		[]clientv3.Op{clientv3.OpPut(key, string(value))}, nil)
	if err != nil {
		return false, fmt.Errorf("write resource %s: %w", r.ID(), err)
	}
	if !res.succeeded {
		return false, fmt.Errorf("write resource %s: %w, will retry", r.ID(), ErrConflict)
	}
	s.wrote(res.revision)
	return true, nil
}

// DeleteResource removes an owned resource entry; deleted is false when
// there was none. Entries that are not owned are refused.
func (s *Store) DeleteResource(ctx context.Context, id string) (deleted bool, err error) {
	if !IsOwnedResourceID(id) {
		return false, fmt.Errorf("delete resource %s: not an entry this deployer owns", id)
	}
	res, err := s.commit(ctx, nil, []clientv3.Op{clientv3.OpDelete(s.layout.Key(ResourcePath(id)))}, nil)
	if err != nil {
		return false, fmt.Errorf("delete resource %s: %w", id, err)
	}
	deleted = res.responses[0].GetResponseDeleteRange().Deleted > 0
	if deleted {
		s.wrote(res.revision)
	}
	return deleted, nil
}
