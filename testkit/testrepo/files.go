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
