package servicetest

import (
	"context"
	"sync"
	"testing"
)

// RunLead runs a service's lead function in the background, as one term of
// leadership under parent, until the returned stop is called or the test
// ends. stop waits for lead to return and fails the test if it returned an
// error; calling it twice is fine.
func RunLead(t testing.TB, parent context.Context, lead func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(parent)
	done := make(chan error, 1)
	go func() { done <- lead(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("lead: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
