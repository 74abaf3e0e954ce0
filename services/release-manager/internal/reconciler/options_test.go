package reconciler

import (
	"flag"
	"strings"
	"testing"
)

func TestUninstallUnownedSetting(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    bool
		wantErr string
	}{
		{name: "default keeps", want: false},
		{name: "flag", args: []string{"--uninstall-unowned"}, want: true},
		{name: "flag false", args: []string{"--uninstall-unowned=false"}, env: map[string]string{EnvUninstallUnowned: "true"}, want: false},
		{name: "env", env: map[string]string{EnvUninstallUnowned: "true"}, want: true},
		{name: "env empty", env: map[string]string{EnvUninstallUnowned: ""}, want: false},
		{name: "env bad", env: map[string]string{EnvUninstallUnowned: "yes please"}, wantErr: `SDP_UNINSTALL_UNOWNED="yes please": want true or false`},
		{name: "flag bad", args: []string{"--uninstall-unowned=maybe"}, wantErr: "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Options
			fs := flag.NewFlagSet("release-manager", flag.ContinueOnError)
			fs.SetOutput(new(strings.Builder))
			o.Bind(fs)
			err := fs.Parse(tt.args)
			if err == nil {
				err = o.FromEnv(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.UninstallUnowned != tt.want {
				t.Errorf("UninstallUnowned = %v, want %v", o.UninstallUnowned, tt.want)
			}
		})
	}
}
