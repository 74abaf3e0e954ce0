package mirror

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/nadcache"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/logtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

// A NAD labelled "True" or "yes" gets no entry, and one log line per NAD
// and label value saying why; a NAD labelled "false" none.
func TestNotSelectedLoggedOnce(t *testing.T) {
	srv := etcdtest.Start(t)
	_, store := srv.Store(t)
	nads := &fakeNADs{}
	nads.set(nad("a", "1", cfgA))
	notSel := func(name, value string) nadcache.NAD {
		n := nad(name, "1", cfgA)
		n.Available = value
		return n
	}
	nads.not = []nadcache.NAD{notSel("caps", "True"), notSel("word", "yes")}
	var logs logtest.Buffer
	reg := prometheus.NewRegistry()
	m := New(Config{Store: store, NADs: nads, Log: slog.New(slog.NewJSONHandler(&logs, nil)), Timeout: 5 * time.Second}, NewMetrics(reg), reg)
	servicetest.RunLead(t, context.Background(), m.Run)
	f := &fixture{t: t, store: store, nads: nads, m: m, reg: reg}
	f.waitEntries("selected NAD mirrored", entryA, snA)

	lines := func(nadName string) []string {
		var out []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "NAD not selected") && strings.Contains(l, `"nad":"`+nadName+`"`) {
				out = append(out, l)
			}
		}
		return out
	}
	eventually.Eventually(t, 5*time.Second, func() error {
		if len(lines("caps")) == 0 || len(lines("word")) == 0 {
			return fmt.Errorf("no not-selected line for each NAD yet:\n%s", logs.String())
		}
		return nil
	})
	for name, value := range map[string]string{"caps": "True", "word": "yes"} {
		l := lines(name)[0]
		want := fmt.Sprintf(`"reason":"label value \"%s\" is not \"true\""`, value)
		if !strings.Contains(l, want) || !strings.Contains(l, `"label":"`+nadcache.LabelAvailable+`"`) {
			t.Errorf("line %s: want %s and the label named", l, want)
		}
	}

	// More reconciles (NAD events) repeat nothing; a new value is a new
	// line.
	for range 3 {
		m.changed()
	}
	nads.mu.Lock()
	nads.not = []nadcache.NAD{notSel("caps", "True"), notSel("word", "Yes")}
	nads.mu.Unlock()
	m.changed()
	eventually.Eventually(t, 5*time.Second, func() error {
		if len(lines("word")) < 2 {
			return fmt.Errorf("the new value of word not reported:\n%s", logs.String())
		}
		return nil
	})
	m.changed()
	time.Sleep(200 * time.Millisecond)
	if n, w := len(lines("caps")), len(lines("word")); n != 1 || w != 2 {
		t.Errorf("caps reported %d times (want 1), word %d (want 2: one per value):\n%s", n, w, logs.String())
	}
	f.waitEntries("no entry for a NAD not selected", entryA, snA)
}
