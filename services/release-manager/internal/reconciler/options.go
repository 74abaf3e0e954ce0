// The release-manager's own settings: flags, and the environment
// variables that may stand in for them.

package reconciler

import (
	"flag"
	"fmt"
	"strconv"
)

// Options are the release-manager's own settings.
type Options struct {
	// Workers bounds the deployments handled at once. A worker spends most
	// of an install waiting on API calls, so more workers than cores pay:
	// measured here on 2 cores, 16 gave ~25 % more than 8 and 24 no more
	// than 16 within the noise (docs/benchmarks/release-manager.md).
	Workers int
	// MaxAttempts bounds the install/upgrade attempts for one content of
	// an entry; after that it waits for the entry (or the chart
	// repository) to change.
	MaxAttempts int
	// UninstallUnowned makes releases without the ownership label and with
	// no helm entry be uninstalled, as the Python deployer uninstalled
	// every release of the prefix whose entry was gone; only names that
	// parse as <prefix>-<id> with a valid id are, or any name when the
	// prefix is empty. The default keeps them and reports them (a log line
	// and the unowned_releases gauge): after switching from the Python
	// deployer nothing that runs is removed unless the operator asks.
	UninstallUnowned bool
	// uninstallUnownedSet: the flag was given, so the environment does not
	// override it.
	uninstallUnownedSet bool
}

// EnvUninstallUnowned is the environment variable of the
// --uninstall-unowned setting.
const EnvUninstallUnowned = "SDP_UNINSTALL_UNOWNED"

// Bind registers the options on fs.
func (o *Options) Bind(fs *flag.FlagSet) {
	fs.IntVar(&o.Workers, "workers", 16, "deployments reconciled in parallel")
	fs.IntVar(&o.MaxAttempts, "max-attempts", 5, "install/upgrade attempts per entry content before giving up until it changes")
	fs.BoolFunc("uninstall-unowned", "uninstall Helm releases without this deployer's label and with no helm entry, as the Python deployer did (default: keep and report them; env "+EnvUninstallUnowned+")",
		func(s string) error {
			v, err := strconv.ParseBool(s)
			o.UninstallUnowned, o.uninstallUnownedSet = v, true
			return err
		})
}

// FromEnv reads the settings the environment may give, for those not
// given as flags.
func (o *Options) FromEnv(lookup func(string) (string, bool)) error {
	if v, ok := lookup(EnvUninstallUnowned); ok && v != "" && !o.uninstallUnownedSet {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s=%q: want true or false", EnvUninstallUnowned, v)
		}
		o.UninstallUnowned = b
	}
	return nil
}
