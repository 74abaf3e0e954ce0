package proc

import (
	"os"
	"strings"
	"testing"
)

func TestParseMemory(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  string
		want    Memory
		wantErr string
	}{
		{
			name:   "a process",
			status: "Name:\tetcd\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nRssAnon:\t    6144 kB\nRssFile:\t    4096 kB\nThreads:\t12\n",
			want:   Memory{RSS: 10 << 20, HWM: 20 << 20, RSSAnon: 6 << 20, RSSFile: 4 << 20},
		},
		{
			name:    "a zombie has no memory lines",
			status:  "Name:\tetcd\nState:\tZ (zombie)\n",
			wantErr: "no VmRSS or VmHWM",
		},
		{
			name:    "a figure that is no number",
			status:  "VmHWM:\t x kB\nVmRSS:\t1 kB\n",
			wantErr: `VmHWM "x kB"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMemory(tc.status)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to say %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestReadMemoryOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc here")
	}
	m, err := ReadMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Errorf("got %+v: want RSS > 0 and HWM >= RSS", m)
	}
}
