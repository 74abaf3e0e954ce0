// The release-manager's own settings: flags, and the environment
// variables that may stand in for them.

package reconciler

import (
	"flag"
	"fmt"
	"strconv"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/drift"
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
	// DriftMode is what is done about the objects of a release that
	// someone else deleted (off, warn, correct); changed objects are
	// warned about at most, unless DriftCorrectChanged.
	DriftMode           string
	DriftCorrectChanged bool
	driftModeSet        bool
	driftChangedSet     bool
}

// EnvUninstallUnowned is the environment variable of the
// --uninstall-unowned setting.
const EnvUninstallUnowned = "SDP_UNINSTALL_UNOWNED"

// The environment variables of the drift settings.
const (
	EnvDriftMode           = "SDP_DRIFT_MODE"
	EnvDriftCorrectChanged = "SDP_DRIFT_CORRECT_CHANGED"
)

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
	o.DriftMode = string(drift.Correct)
	fs.Func("drift-mode", "what is done about objects of a release deleted or changed by someone else: off, warn or correct (default correct: deleted objects are made again, changed ones reported; env "+EnvDriftMode+")",
		func(s string) error {
			m, err := drift.ParseMode(s)
			o.DriftMode, o.driftModeSet = string(m), true
			return err
		})
	fs.BoolFunc("drift-correct-changed", "with --drift-mode=correct, put changed objects back too, not only report them (env "+EnvDriftCorrectChanged+")",
		func(s string) error {
			v, err := strconv.ParseBool(s)
			o.DriftCorrectChanged, o.driftChangedSet = v, true
			return err
		})
}

// DriftModes returns the drift modes the settings name.
func (o Options) DriftModes() drift.Modes {
	m, err := drift.ParseMode(o.DriftMode)
	if err != nil {
		m = drift.Correct
	}
	return drift.ModesFor(m, o.DriftCorrectChanged)
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
	if v, ok := lookup(EnvDriftMode); ok && v != "" && !o.driftModeSet {
		m, err := drift.ParseMode(v)
		if err != nil {
			return fmt.Errorf("%s: %w", EnvDriftMode, err)
		}
		o.DriftMode = string(m)
	}
	if v, ok := lookup(EnvDriftCorrectChanged); ok && v != "" && !o.driftChangedSet {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s=%q: want true or false", EnvDriftCorrectChanged, v)
		}
		o.DriftCorrectChanged = b
	}
	return nil
}
