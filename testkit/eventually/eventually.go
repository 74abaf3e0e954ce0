// Package eventually is the one way tests wait for a condition: poll it
// until it holds, and say what it last was when it never did. It is built
// on k8s.io/apimachinery/pkg/util/wait, so the ticker, deadline and context
// handling are the library's, not each test's.
//
// It is part of the test kit, which requires nothing of the product;
// docs/architecture.md, §1. The rooms.
package eventually

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Interval is how often Eventually and True poll: short enough that a test
// does not wait long after its condition holds, long enough not to load a
// two-core machine.
const Interval = 20 * time.Millisecond

// stopErr marks an error after which polling is pointless.
type stopErr struct{ error }

func (s stopErr) Unwrap() error { return s.error }

// Stop wraps err so that Poll ends at once with it, e.g. when the process
// being waited on has exited.
func Stop(err error) error { return stopErr{err} }

// Poll calls f at once and then every interval until it returns nil, returns
// an error wrapped by Stop, ctx ends or timeout passes (0: only ctx bounds
// it). f's context ends with the poll. The error names the timeout (or the
// context's end) and wraps f's last error.
func Poll(ctx context.Context, timeout, interval time.Duration, f func(context.Context) error) error {
	var last error
	cond := func(ctx context.Context) (bool, error) {
		last = f(ctx)
		if s, ok := errors.AsType[stopErr](last); ok {
			return false, s
		}
		return last == nil, nil
	}
	var err error
	if timeout > 0 {
		err = wait.PollUntilContextTimeout(ctx, interval, timeout, true, cond)
	} else {
		err = wait.PollUntilContextCancel(ctx, interval, true, cond)
	}
	if err == nil {
		return nil
	}
	if s, ok := errors.AsType[stopErr](err); ok {
		return s.error
	}
	if last == nil {
		// The context ended before f was called.
		return err
	}
	if timeout > 0 && ctx.Err() == nil {
		return fmt.Errorf("not within %v: %w", timeout, last)
	}
	return fmt.Errorf("%v: %w", err, last)
}

// Eventually fails t, with f's last error, unless f returns nil within
// timeout. f returning an error wrapped by Stop fails t at once.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	if err := Poll(context.Background(), timeout, Interval, func(context.Context) error { return f() }); err != nil {
		t.Fatal(err)
	}
}

// True fails t, naming what it waited for, unless cond holds within timeout.
func True(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	Eventually(t, timeout, func() error {
		if !cond() {
			return fmt.Errorf("%s: not yet", what)
		}
		return nil
	})
}
