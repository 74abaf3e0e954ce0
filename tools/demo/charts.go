package demo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

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
