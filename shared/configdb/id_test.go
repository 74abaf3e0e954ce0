package configdb

import (
	"errors"
	"strings"
	"testing"
)

func TestReleaseName(t *testing.T) {
	long96 := strings.Repeat("a", 96)
	tests := []struct {
		prefix, id, want string
		err              error
		msg              string
	}{
		{"", "proc-1", "proc-1", nil, ""},
		{"sdp", "proc-1", "sdp-proc-1", nil, ""},
		{"", "", "", ErrInvalidID, "empty"},
		{"", "a_b", "", ErrInvalidID, "letters, digits and '-'"},
		{"", "a.b", "", ErrInvalidID, "letters, digits and '-'"},
		{"", long96 + "a", "", ErrInvalidID, "97 characters"},
		{"", long96, "", ErrInvalidReleaseName, "at most 53"},
		{"sdp", strings.Repeat("b", 50), "", ErrInvalidReleaseName, "54 characters"},
		{"sdp", strings.Repeat("b", 49), "sdp-" + strings.Repeat("b", 49), nil, ""},
		{"", "Proc-1", "", ErrInvalidReleaseName, "lower case"},
		{"", "-proc", "", ErrInvalidReleaseName, "alphanumeric"},
		{"", "proc-", "", ErrInvalidReleaseName, "alphanumeric"},
		{"SDP", "x", "", ErrInvalidReleaseName, "lower case"},
	}
	for _, tt := range tests {
		got, err := ReleaseName(tt.prefix, tt.id)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("ReleaseName(%q, %q) = %q, %v; want %q, %v", tt.prefix, tt.id, got, err, tt.want, tt.err)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ReleaseName(%q, %q) error %q does not say %q", tt.prefix, tt.id, err, tt.msg)
		}
		if err == nil {
			if id, ok := IDFromReleaseName(tt.prefix, got); !ok || id != tt.id {
				t.Errorf("IDFromReleaseName(%q, %q) = %q, %v", tt.prefix, got, id, ok)
			}
		}
	}
}

func TestIDFromReleaseNameForeign(t *testing.T) {
	for _, tt := range []struct{ prefix, name string }{
		{"sdp", "other-release"},
		{"sdp", "sdp-"},
		{"sdp", "sdpx-y"},
		{"", "has_underscore"},
	} {
		if id, ok := IDFromReleaseName(tt.prefix, tt.name); ok {
			t.Errorf("IDFromReleaseName(%q, %q) = %q, claimed as ours", tt.prefix, tt.name, id)
		}
	}
}
