package e2e

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestFromChart(t *testing.T) {
	dir := filepath.Join("..", "..", "charts", "sdp-helmdeploy")
	got, err := FromChart(dir, replicasValues)
	if errors.Is(err, ErrNoChart) {
		t.Skipf("SKIP!!! %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Services {
		set := got[s]
		if set.Replicas != 2 {
			t.Errorf("%s: %d replicas, want the 2 asked for", s, set.Replicas)
		}
		if !slices.Contains(set.Args, "--leader-elect=true") {
			t.Errorf("%s: args %q lack --leader-elect=true", s, set.Args)
		}
		args, env, err := set.Command(Overrides{ConfigHost: "127.0.0.1", ConfigPort: 1234, Kubeconfig: "/k", Home: "/h", Identity: s + "-0", ChartRepoURL: "http://repo"})
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		lookup := envLookup(env)
		for name, want := range map[string]string{"SDP_CONFIG_HOST": "127.0.0.1", "SDP_CONFIG_PORT": "1234", "SDP_HTTP_ADDR": "127.0.0.1:0", "HOME": "/h"} {
			if v, _ := lookup(name); v != want {
				t.Errorf("%s: %s=%q, want %q", s, name, v, want)
			}
		}
		if v, ok := lookup("SDP_HELM_NAMESPACE"); s != "resource-monitor" && (!ok || v == "") {
			t.Errorf("%s: no SDP_HELM_NAMESPACE from the chart", s)
		}
		if last := args[len(args)-1]; s == "release-manager" && last != "--cache-dir=/h/release-manager" {
			t.Errorf("%s: last arg %q, want the cache dir under HOME", s, last)
		}
	}
}

func TestCommand(t *testing.T) {
	base := Settings{Service: "release-manager", Args: []string{"--leader-elect=true", "--cache-dir=/tmp/release-manager"}, Env: []corev1.EnvVar{
		{Name: "SDP_CONFIG_HOST", Value: "ska-sdp-etcd"},
		{Name: "SDP_CONFIG_PORT", Value: "2379"},
		{Name: "SDP_CONFIG_CERT", Value: "/etc/ca.crt"},
		{Name: "SDP_HELM_PREFIX", Value: "sdp"},
		{Name: "SDP_CHART_REPO_URL", Value: "https://charts.example"},
		{Name: "HOME", Value: "/tmp"},
	}}
	withSecret := base
	withSecret.Env = append(append([]corev1.EnvVar{}, base.Env...), corev1.EnvVar{Name: "SDP_CONFIG_PASSWORD",
		ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "etcd"}, Key: "password"}}})
	withField := base
	withField.Env = append(append([]corev1.EnvVar{}, base.Env...), corev1.EnvVar{Name: "POD_IP",
		ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}})
	o := Overrides{ConfigHost: "127.0.0.1", ConfigPort: 4000, ChartRepoURL: "http://127.0.0.1:9", Kubeconfig: "/kc", Home: "/home/r0", Identity: "r0"}
	withCreds := o
	withCreds.Username, withCreds.Password = "u", "p"

	for _, tc := range []struct {
		name    string
		s       Settings
		o       Overrides
		env     map[string]string // "" means absent
		wantErr string
	}{
		{"overrides point at the test", base, o, map[string]string{
			"SDP_CONFIG_HOST": "127.0.0.1", "SDP_CONFIG_PORT": "4000", "SDP_CONFIG_PROTOCOL": "http", "SDP_CONFIG_CERT": "",
			"SDP_HELM_PREFIX": "sdp", "SDP_CHART_REPO_URL": "http://127.0.0.1:9", "HOME": "/home/r0", "SDP_CONFIG_PASSWORD": "",
			"SDP_LOG_FORMAT": "json",
		}, ""},
		{"secret-sourced password dropped without credentials", withSecret, o, map[string]string{"SDP_CONFIG_PASSWORD": ""}, ""},
		{"secret-sourced password replaced by the test's", withSecret, withCreds, map[string]string{"SDP_CONFIG_PASSWORD": "p", "SDP_CONFIG_USERNAME": "u"}, ""},
		{"a source the test cannot provide", withField, o, nil, "POD_IP comes from field status.podIP"},
	} {
		args, env, err := tc.s.Command(tc.o)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		lookup := envLookup(env)
		for name, want := range tc.env {
			if v, ok := lookup(name); v != want || ok != (want != "") {
				t.Errorf("%s: %s=%q (set %v), want %q", tc.name, name, v, ok, want)
			}
		}
		for _, want := range []string{"--http-addr=127.0.0.1:0", "--kubeconfig=/kc", "--identity=r0", "--cache-dir=/home/r0/release-manager"} {
			if !slices.Contains(args, want) {
				t.Errorf("%s: args %q lack %s", tc.name, args, want)
			}
		}
		if args[0] != "--leader-elect=true" {
			t.Errorf("%s: the chart's args do not come first: %q", tc.name, args)
		}
	}

	// A fixed address, kept by a replica across restarts, wins over the
	// chart's in both the environment and the flags.
	fixed := o
	fixed.HTTPAddr = "127.0.0.1:23456"
	chartAddr := base
	chartAddr.Args = append([]string{"--http-addr=:8080"}, base.Args...)
	chartAddr.Env = append(append([]corev1.EnvVar{}, base.Env...), corev1.EnvVar{Name: "SDP_HTTP_ADDR", Value: ":8080"})
	args, env, err := chartAddr.Command(fixed)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := envLookup(env)("SDP_HTTP_ADDR"); v != fixed.HTTPAddr {
		t.Errorf("fixed address: SDP_HTTP_ADDR=%q, want %q", v, fixed.HTTPAddr)
	}
	var last string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--http-addr="); ok {
			last = v
		}
	}
	if last != fixed.HTTPAddr {
		t.Errorf("fixed address: last --http-addr %q in %q, want %q", last, args, fixed.HTTPAddr)
	}
}

func TestLeaderTTL(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    time.Duration
		wantErr string
	}{
		{args: []string{"--leader-elect=true"}, want: 10 * time.Second}, // the flag's default
		{args: []string{"--leader-ttl=15s"}, want: 15 * time.Second},
		{args: []string{"-leader-ttl", "4s", "--workers=2"}, want: 4 * time.Second},
		{args: []string{"--leader-ttl=15s", "--leader-ttl=6s"}, want: 6 * time.Second},
		{args: []string{"--leader-ttl=soon"}, wantErr: `--leader-ttl="soon"`},
		{args: []string{"--leader-ttl"}, wantErr: "without a value"},
	} {
		got, err := Settings{Service: "pod-monitor", Args: tc.args}.LeaderTTL()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want one with %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %v %v, want %v", tc.args, got, err, tc.want)
		}
	}
}
