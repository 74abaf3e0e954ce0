package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestTerms(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	put := func(svc, key, id string, create int64, s int) ElectionKeyEvent {
		return ElectionKeyEvent{Service: svc, Key: key, Identity: id, CreateRev: create, Rev: create, Seen: at(s)}
	}
	del := func(svc, key string, rev int64, s int) ElectionKeyEvent {
		return ElectionKeyEvent{Service: svc, Key: key, Delete: true, Rev: rev, Seen: at(s)}
	}
	show := func(ts []Term) string {
		var parts []string
		for _, tm := range ts {
			end := "-"
			if tm.Ended() {
				end = fmt.Sprintf("%d@%d", tm.EndRev, tm.End.Sub(t0)/time.Second)
				if tm.EndGap {
					end += "(gap)"
				}
			}
			parts = append(parts, fmt.Sprintf("%s/%s %d@%d..%s", tm.Service, tm.Identity, tm.StartRev, tm.Start.Sub(t0)/time.Second, end))
		}
		return strings.Join(parts, "; ")
	}
	for _, tc := range []struct {
		name   string
		steps  func(*Terms)
		want   string
		gaps   int
		curOf  string
		curWas string
	}{
		{
			name: "first candidate leads, the second waits and takes over when the first's key goes",
			steps: func(tr *Terms) {
				tr.Apply(put("rm", "k/a", "rm-0", 10, 1), put("rm", "k/b", "rm-1", 12, 2))
				tr.Apply(del("rm", "k/a", 20, 5))
			},
			want:  "rm/rm-0 10@1..20@5; rm/rm-1 20@5..-",
			curOf: "rm", curWas: "rm-1",
		},
		{
			name: "a waiting candidate's key going changes nothing",
			steps: func(tr *Terms) {
				tr.Apply(put("rm", "k/a", "rm-0", 10, 1), put("rm", "k/b", "rm-1", 12, 2), del("rm", "k/b", 15, 3))
			},
			want:  "rm/rm-0 10@1..-",
			curOf: "rm", curWas: "rm-0",
		},
		{
			name: "services apart; a leader without a successor leaves no current term",
			steps: func(tr *Terms) {
				tr.Apply(put("rm", "k/a", "rm-0", 10, 1), put("pm", "p/a", "pm-0", 11, 1), del("pm", "p/a", 30, 7))
			},
			want:  "rm/rm-0 10@1..-; pm/pm-0 11@1..30@7",
			curOf: "pm",
		},
		{
			name: "the same identity leads again in a new term (new key)",
			steps: func(tr *Terms) {
				tr.Apply(put("rm", "k/a", "rm-0", 10, 1), put("rm", "k/b", "rm-1", 12, 2), del("rm", "k/a", 20, 5))
				tr.Apply(put("rm", "k/c", "rm-0", 25, 6), del("rm", "k/b", 40, 9))
			},
			want:  "rm/rm-0 10@1..20@5; rm/rm-1 20@5..40@9; rm/rm-0 40@9..-",
			curOf: "rm", curWas: "rm-0",
		},
		{
			name: "a relist after a gap ends the term whose key is gone, at the list's revision",
			steps: func(tr *Terms) {
				tr.Apply(put("rm", "k/a", "rm-0", 10, 1), put("rm", "k/b", "rm-1", 12, 2))
				tr.Relist([]ElectionKeyEvent{{Service: "rm", Key: "k/b", Identity: "rm-1", CreateRev: 12}, {Service: "rm", Key: "k/c", Identity: "rm-0", CreateRev: 30}}, 50, at(10))
			},
			want:  "rm/rm-0 10@1..50@10(gap); rm/rm-1 50@10..-",
			gaps:  2,
			curOf: "rm", curWas: "rm-1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTerms()
			tc.steps(tr)
			if got := show(tr.All()); got != tc.want {
				t.Errorf("terms\n got %s\nwant %s", got, tc.want)
			}
			if tr.Gaps() != tc.gaps {
				t.Errorf("gaps %d, want %d", tr.Gaps(), tc.gaps)
			}
			cur, ok := tr.Current(tc.curOf)
			if ok != (tc.curWas != "") || cur.Identity != tc.curWas {
				t.Errorf("current term of %s: %+v %v, want %q", tc.curOf, cur, ok, tc.curWas)
			}
		})
	}
}

func TestTermOfAndNextTerm(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	terms := []Term{
		{Service: "rm", Identity: "rm-0", StartRev: 10, Start: at(1), EndRev: 20, End: at(5)},
		{Service: "rm", Identity: "rm-1", StartRev: 20, Start: at(5), EndRev: 40, End: at(9)},
		{Service: "pm", Identity: "rm-0", StartRev: 21, Start: at(5)},
		{Service: "rm", Identity: "rm-0", StartRev: 40, Start: at(9)},
	}
	for _, tc := range []struct {
		svc, id   string
		at        int
		wantStart int64
	}{
		{"rm", "rm-0", 3, 10},
		{"rm", "rm-0", 5, 10},
		{"rm", "rm-0", 7, 0},
		{"rm", "rm-0", 100, 40},
		{"rm", "rm-1", 2, 0},
		{"pm", "rm-0", 6, 21},
	} {
		tm, ok := TermOf(terms, tc.svc, tc.id, at(tc.at))
		if ok != (tc.wantStart != 0) || tm.StartRev != tc.wantStart {
			t.Errorf("TermOf(%s, %s, +%d) = %+v %v, want the term from %d", tc.svc, tc.id, tc.at, tm, ok, tc.wantStart)
		}
	}
	if tm, ok := NextTerm(terms, "rm", "rm-0", at(5)); !ok || tm.StartRev != 40 {
		t.Errorf("NextTerm(rm, rm-0, +5) = %+v %v, want the term from 40", tm, ok)
	}
	if tm, ok := NextTerm(terms, "rm", "rm-1", at(5)); ok {
		t.Errorf("NextTerm(rm, rm-1, +5) = %+v, want none", tm)
	}
}
