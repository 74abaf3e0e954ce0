package testrepo

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
)

// PackageRepo packages each chart directory in dir into out and writes
// out/index.yaml: a chart repository as `helm repo index` makes one.
func PackageRepo(dir, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("example charts: %w", err)
	}
	index := repo.NewIndexFile()
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c, err := loader.Load(filepath.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("chart %s: %w", e.Name(), err)
		}
		path, err := chartutil.Save(c, out)
		if err != nil {
			return fmt.Errorf("package %s: %w", e.Name(), err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		if err := index.MustAdd(c.Metadata, filepath.Base(path), "", hex.EncodeToString(sum[:])); err != nil {
			return err
		}
	}
	index.SortEntries()
	return index.WriteFile(filepath.Join(out, "index.yaml"), 0o644)
}

// ServeCharts packages every chart directory under dir into out, writes
// an index.yaml, and serves out over HTTP on loopback.
func ServeCharts(dir, out string) (url string, stop func(), err error) {
	if err := PackageRepo(dir, out); err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(out)), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Warn("chart repository server", "error", err)
		}
	}()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}
