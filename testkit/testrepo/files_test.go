package testrepo

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFiles(t *testing.T) {
	dir := WriteFiles(t, filepath.Join(t.TempDir(), "c"), map[string]string{"Chart.yaml": "name: c\n", "templates/a.yaml": "a: 1\n"})
	for name, want := range map[string]string{"Chart.yaml": "name: c\n", "templates/a.yaml": "a: 1\n"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q %v, want %q", name, got, err, want)
		}
	}
}
