package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

func (a *app) stateCmd() *cobra.Command {
	var out *format
	var watch bool
	cmd := &cobra.Command{
		Use:   "state ID [--watch]",
		Short: "Show a deployment's state entry: the release part and the pods",
		Long: `Show /deploy/<id>/state: the release part the release-manager writes (status,
revision, chart, last error) and the pods the pod-monitor writes, each with
why it is not RUNNING or FINISHED when the pod-monitor says (the reasons part).

With --watch, print the entry again each time it changes, until Ctrl-C. With
-o json the states are a stream of JSON documents; with -o yaml, YAML documents
separated by '---'.`,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return a.state(cmd, args[0], *out, watch)
		}),
	}
	out = addFormatFlag(cmd)
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "print each change until interrupted")
	return cmd
}

func (a *app) state(cmd *cobra.Command, id string, out format, watch bool) error {
	if err := configdb.ValidateID(id); err != nil {
		return fmt.Errorf("state of deployment: %w", err)
	}
	s, err := a.connect()
	if err != nil {
		return err
	}
	defer s.close()
	st, err := s.currentState(cmd.Context(), id)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if !watch {
		return writeState(w, out, st)
	}
	// Each change is rendered in full; a re-read after a watch gap that
	// finds the entry unchanged prints nothing.
	var last []byte
	first := true
	err = s.store.WatchState(cmd.Context(), id, func(ev configdb.StateEvent) {
		if ev.Err != nil {
			fmt.Fprintf(s.stderr, "warning: %v\n", ev.Err)
			return
		}
		var buf bytes.Buffer
		if err := writeState(&buf, out, ev.State); err != nil {
			fmt.Fprintf(s.stderr, "warning: %v\n", err)
			return
		}
		if bytes.Equal(buf.Bytes(), last) {
			return
		}
		last = buf.Bytes()
		if !first {
			switch out {
			case formatYAML:
				fmt.Fprintln(w, "---")
			case formatTable:
				fmt.Fprintln(w)
			}
		}
		first = false
		_, _ = w.Write(buf.Bytes())
	})
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// Ctrl-C (or the caller's deadline) is how a watch ends.
		return nil
	}
	return err
}

// currentState reads the state entry, bounded by the timeout; a deployment
// without a state entry yet has the empty state, one without an entry at all
// is not found.
func (s *session) currentState(ctx context.Context, id string) (configdb.DeploymentState, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	st, found, err := s.store.GetState(ctx, id)
	switch {
	case err != nil && !found:
		return st, s.dbError("state of deployment "+id, err)
	case err != nil:
		return st, fmt.Errorf("state of deployment %s: %w", id, err)
	case found:
		return st, nil
	}
	if _, found, err = s.store.GetDeployment(ctx, id); !found {
		if err != nil {
			return st, s.dbError("state of deployment "+id, err)
		}
		return st, notFound("state of", id, s.env.ConfigPrefix)
	}
	return st, nil
}

func writeState(w io.Writer, out format, st configdb.DeploymentState) error {
	return write(w, out, st, func(tw *tabwriter.Writer) {
		row(tw, "RELEASE", "STATUS", "REVISION", "CHART", "VERSION", "UPDATED", "ERROR")
		if r := st.Release; r != nil {
			rev := ""
			if r.Revision != 0 {
				rev = strconv.Itoa(r.Revision)
			}
			row(tw, r.Name, r.Status, rev, r.Chart, r.Version, r.Time, r.Error)
		} else {
			row(tw, "", "", "", "", "", "", "")
		}
		// A blank line ends the first table's alignment.
		fmt.Fprintln(tw)
		row(tw, "POD", "STATUS", "REASON", "MESSAGE")
		names := make([]string, 0, len(st.Pods))
		for name := range st.Pods {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			r := st.Reasons[name]
			row(tw, name, string(st.Pods[name]), reasonCell(r), r.Message)
		}
	})
}

// reasonCell puts a reason's short fields in one cell, the message being
// the long one that gets a column of its own:
// "CrashLoopBackOff (container worker, exit 137 OOMKilled, 1 more container)".
func reasonCell(r configdb.PodReason) string {
	if r.Reason == "" {
		return ""
	}
	var details []string
	switch {
	case r.Container != "" && r.InitContainer:
		details = append(details, "init container "+r.Container)
	case r.Container != "":
		details = append(details, "container "+r.Container)
	}
	if r.ExitCode != nil {
		details = append(details, strings.TrimSpace("exit "+strconv.Itoa(int(*r.ExitCode))+" "+r.ExitReason))
	}
	switch {
	case r.OtherContainers == 1:
		details = append(details, "1 more container")
	case r.OtherContainers > 1:
		details = append(details, strconv.Itoa(r.OtherContainers)+" more containers")
	}
	if len(details) == 0 {
		return r.Reason
	}
	return r.Reason + " (" + strings.Join(details, ", ") + ")"
}
