package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

func (a *app) explainCmd() *cobra.Command {
	var out *format
	var kubeconfig string
	cmd := &cobra.Command{
		Use:   "explain ID [--kubeconfig FILE]",
		Short: "Say why a deployment is or is not running: its entries, its pods, the release's Helm history and events",
		Long: `Explain a deployment: a one-line verdict ("running", "not running: pod x
PENDING (Unschedulable: ...)", "failed: <release error>", "no release yet",
"drifted: ..."), then what it rests on:

- the deployment entry: kind, chart, a summary of the values;
- the state entry: the release part (status, revision, chart, last error,
  warning, readiness, drift) and each pod with why it is not running;
- with a kubeconfig (--kubeconfig, else $KUBECONFIG), the release's history
  from Helm's storage in SDP_HELM_NAMESPACE (a failed revision's description
  is Helm's error) and the recent Kubernetes events about its objects.

Without a kubeconfig, or when the API server does not answer within --timeout,
a line says so and only the config DB's part is shown; that is not a failure.`,
		Example: `  sdpctl explain my-receive
  sdpctl explain my-receive --kubeconfig ~/.kube/config -o json`,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return a.explain(cmd, args[0], *out, kubeconfig)
		}),
	}
	out = addFormatFlag(cmd)
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: $KUBECONFIG; without either, only the config DB is read)")
	return cmd
}

func (a *app) explain(cmd *cobra.Command, id string, out format, kubeconfig string) error {
	if err := configdb.ValidateID(id); err != nil {
		return fmt.Errorf("explain deployment: %w", err)
	}
	ex := explanation{ID: id}
	var releaseErr error
	err := a.withSession(cmd.Context(), func(ctx context.Context, s *session) error {
		ex.Namespace = s.env.HelmNamespace
		ex.Release, releaseErr = configdb.ReleaseName(s.env.HelmPrefix, id)
		return readEntries(ctx, s, &ex)
	})
	if err != nil {
		return err
	}
	if releaseErr != nil {
		// The release-manager cannot install such an entry either; its
		// state entry says so.
		ex.Kubernetes.Note = fmt.Sprintf("not asked: %v", releaseErr)
	} else {
		ex.Kubernetes = a.readKube(cmd.Context(), kubeconfig, ex.Namespace, ex.Release, podNames(ex.State.Pods))
	}
	ex.Verdict = verdict(ex.Deployment, ex.State)
	return writeExplanation(cmd.OutOrStdout(), out, ex, time.Now())
}

// readEntries reads the deployment entry and its state entry into ex. An
// entry that does not decode is shown, not failed on: explaining it is the
// point. Only a config DB that does not answer fails the command.
func readEntries(ctx context.Context, s *session, ex *explanation) error {
	d, found, err := s.store.GetDeployment(ctx, ex.ID)
	switch {
	case err != nil && !found:
		return s.dbError("explain deployment "+ex.ID, err)
	case err != nil:
		ex.Deployment = deploymentView{Found: true, Error: err.Error(), Kind: d.Kind}
	case found:
		ex.Deployment = deploymentView{Found: true, Kind: d.Kind, Chart: d.Chart, Version: d.Version, Values: d.Values}
	}
	st, found, err := s.store.GetState(ctx, ex.ID)
	switch {
	case err != nil && !found:
		return s.dbError("explain deployment "+ex.ID, err)
	case err != nil:
		// The store says "state of <id>: ..."; the view is already about
		// that entry.
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		ex.State = stateView{Found: true, Error: err.Error()}
	case found:
		ex.State = stateViewOf(st)
	}
	return nil
}

func stateViewOf(st configdb.DeploymentState) stateView {
	v := stateView{Found: true, Release: st.Release}
	for name, status := range st.Pods {
		p := podView{Name: name, Status: status}
		if r, ok := st.Reasons[name]; ok {
			p.Reason = &r
		}
		v.Pods = append(v.Pods, p)
	}
	sort.Slice(v.Pods, func(i, j int) bool { return v.Pods[i].Name < v.Pods[j].Name })
	return v
}

func podNames(pods []podView) []string {
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	return names
}
