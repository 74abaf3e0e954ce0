package testrepo

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteFiles writes files (path in dir: content) under dir, making the
// folders they need, and returns dir: a chart directory written from a
// test's literal.
func WriteFiles(t testing.TB, dir string, files map[string]string) string {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// WritePodChart writes a chart named name of one pod, labelled with its
// release as the pod-monitor expects, under a temporary directory, and
// returns the chart's directory: the smallest chart whose release the
// three services all report on.
func WritePodChart(t testing.TB, name string) string {
	t.Helper()
	return WriteFiles(t, filepath.Join(t.TempDir(), name), map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: " + name + "\nversion: 0.1.0\n",
		"values.yaml": "{}\n",
		"templates/pod.yaml": `apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-0
  labels:
    app.kubernetes.io/instance: {{ .Release.Name }}
spec:
  containers:
    - name: main
      image: registry.invalid/none:0
`,
	})
}
