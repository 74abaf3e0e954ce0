package eventually

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	errBoom := errors.New("boom")
	cases := []struct {
		name     string
		f        func(calls int) error
		timeout  time.Duration
		wantErr  string // "" for success
		maxCalls int    // the poll stops by then
	}{
		{"holds at once", func(int) error { return nil }, time.Second, "", 1},
		{"holds on the third call", func(n int) error {
			if n < 3 {
				return errors.New("not yet")
			}
			return nil
		}, 5 * time.Second, "", 3},
		{"never holds: reports the last error", func(n int) error { return errors.New("still " + strings.Repeat("x", n%2)) }, 100 * time.Millisecond, "not within 100ms: still", 0},
		{"stop ends at once with its error", func(int) error { return Stop(errBoom) }, time.Minute, "boom", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			err := Poll(context.Background(), c.timeout, time.Millisecond, func(context.Context) error {
				calls++
				return c.f(calls)
			})
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("err %v, want nil", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("err %v, want one containing %q", err, c.wantErr)
			}
			if c.maxCalls > 0 && calls != c.maxCalls {
				t.Errorf("%d calls, want %d", calls, c.maxCalls)
			}
		})
	}
}

func TestPollStopKeepsTheError(t *testing.T) {
	errBoom := errors.New("boom")
	err := Poll(context.Background(), time.Minute, time.Millisecond, func(context.Context) error { return Stop(errBoom) })
	if !errors.Is(err, errBoom) {
		t.Fatalf("err %v, want errBoom", err)
	}
}

func TestPollContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Poll(ctx, 0, time.Millisecond, func(context.Context) error {
		calls++
		if calls == 3 {
			cancel()
		}
		return errors.New("waiting")
	})
	if err == nil || !strings.Contains(err.Error(), "waiting") || !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("err %v, want the context's end with the last error", err)
	}
}

// fakeTB records a Fatal instead of ending the test.
type fakeTB struct {
	testing.TB
	failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatal(args ...any) {
	f.failed = args[0].(error).Error()
}

func TestTrueFailsNamingWhat(t *testing.T) {
	ft := &fakeTB{TB: t}
	True(ft, 50*time.Millisecond, "the door opens", func() bool { return false })
	if !strings.Contains(ft.failed, "the door opens") {
		t.Fatalf("failure %q does not name what was waited for", ft.failed)
	}
	ft = &fakeTB{TB: t}
	True(ft, time.Second, "the door opens", func() bool { return true })
	if ft.failed != "" {
		t.Fatalf("failed %q though the condition held", ft.failed)
	}
}
