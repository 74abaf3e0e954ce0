package helmexec

import (
	"errors"
	"fmt"
	"net"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestIsUnreachable(t *testing.T) {
	gr := schema.GroupResource{Resource: "secrets"}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"reachability check failed", fmt.Errorf("helm install x: %w", fmt.Errorf("%w: refused", ErrUnreachable)), true},
		{"connection refused mid-action", fmt.Errorf("create: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), true},
		{"service unavailable", apierrors.NewServiceUnavailable("starting"), true},
		{"server timeout", apierrors.NewServerTimeout(gr, "create", 1), true},
		{"throttled", apierrors.NewTooManyRequests("slow down", 1), true},
		{"not found", apierrors.NewNotFound(gr, "x"), false},
		{"invalid values", errors.New("values don't meet the specifications of the schema"), false},
		{"nil", nil, false},
	} {
		if got := IsUnreachable(tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
