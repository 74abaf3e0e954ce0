package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// listItem is one deployment in the JSON and YAML output of list: the entry
// as the contract encodes it, and its state entry when there is one.
type listItem struct {
	Deployment json.RawMessage           `json:"deployment"`
	State      *configdb.DeploymentState `json:"state,omitempty"`
}

func (a *app) getCmd() *cobra.Command {
	var out *format
	cmd := &cobra.Command{
		Use:   "get ID",
		Short: "Show a deployment entry (json/yaml: the entry itself, as 'create -f' reads it)",
		Args:  cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := configdb.ValidateID(id); err != nil {
				return fmt.Errorf("get deployment: %w", err)
			}
			return a.withSession(cmd.Context(), func(ctx context.Context, s *session) error {
				d, found, err := s.store.GetDeployment(ctx, id)
				switch {
				case err != nil && !found:
					return s.dbError("get deployment "+id, err)
				case err != nil:
					return fmt.Errorf("get deployment %s: %w; fix the entry or delete it (sdpctl delete %s)", id, err, id)
				case !found:
					return notFound("get", id, s.env.ConfigPrefix)
				}
				if *out != formatTable {
					entry, err := d.Encode()
					if err != nil {
						return fmt.Errorf("get deployment %s: %w", id, err)
					}
					return write(cmd.OutOrStdout(), *out, json.RawMessage(entry), nil)
				}
				st, _, err := s.store.GetState(ctx, id)
				if err != nil {
					return s.dbError("get state of "+id, err)
				}
				return write(cmd.OutOrStdout(), formatTable, nil, func(tw *tabwriter.Writer) {
					deploymentHeader(tw)
					deploymentRow(tw, d, st)
				})
			})
		}),
	}
	out = addFormatFlag(cmd)
	return cmd
}

func notFound(verb, id, prefix string) error {
	where := ""
	if prefix != "" {
		where = fmt.Sprintf(" under prefix %s", prefix)
	}
	return fmt.Errorf("%s deployment %s: not found%s; see 'sdpctl list' for the deployments there are", verb, id, where)
}

func (a *app) listCmd() *cobra.Command {
	var out *format
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the deployment entries with their release status and pods",
		Args:  cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			return a.withSession(cmd.Context(), func(ctx context.Context, s *session) error {
				list, err := s.store.ListDeployments(ctx)
				if err != nil {
					return s.dbError("list deployments", err)
				}
				for _, e := range list.Errors {
					fmt.Fprintf(a.stderr, "warning: skipped %v\n", e)
				}
				sort.Slice(list.Deployments, func(i, j int) bool { return list.Deployments[i].ID < list.Deployments[j].ID })
				states, err := readStates(ctx, s, list.Deployments)
				if err != nil {
					return err
				}
				items := make([]listItem, 0, len(list.Deployments))
				for _, d := range list.Deployments {
					entry, err := d.Encode()
					if err != nil {
						return fmt.Errorf("list deployments: %s: %w", d.ID, err)
					}
					items = append(items, listItem{Deployment: entry, State: states[d.ID]})
				}
				return write(cmd.OutOrStdout(), *out, items, func(tw *tabwriter.Writer) {
					deploymentHeader(tw)
					for _, d := range list.Deployments {
						var st configdb.DeploymentState
						if p := states[d.ID]; p != nil {
							st = *p
						}
						deploymentRow(tw, d, st)
					}
				})
			})
		}),
	}
	out = addFormatFlag(cmd)
	return cmd
}

// readStates reads the state entry of each deployment; entries that do not
// decode are reported as warnings and left out, since the list is still
// worth showing.
func readStates(ctx context.Context, s *session, ds []configdb.Deployment) (map[string]*configdb.DeploymentState, error) {
	states := make(map[string]*configdb.DeploymentState, len(ds))
	for _, d := range ds {
		st, found, err := s.store.GetState(ctx, d.ID)
		switch {
		case err != nil && !found:
			return nil, s.dbError("read state of "+d.ID, err)
		case err != nil:
			fmt.Fprintf(s.stderr, "warning: %v\n", err)
		case found:
			states[d.ID] = &st
		}
	}
	return states, nil
}

func deploymentHeader(tw io.Writer) {
	row(tw, "ID", "KIND", "CHART", "RELEASE STATUS", "PODS")
}

func deploymentRow(tw io.Writer, d configdb.Deployment, st configdb.DeploymentState) {
	chart := d.Chart
	if chart != "" && d.Version != "" {
		chart += "@" + d.Version
	}
	status := ""
	if st.Release != nil {
		status = st.Release.Status
	}
	row(tw, d.ID, d.Kind, chart, status, podSummary(st.Pods))
}

// podSummary counts pods by status, in the order of configdb.PodStatuses:
// "3 pods: 2 RUNNING, 1 PENDING".
func podSummary(pods map[string]configdb.PodStatus) string {
	if len(pods) == 0 {
		return ""
	}
	count := map[configdb.PodStatus]int{}
	for _, st := range pods {
		count[st]++
	}
	var parts []string
	for _, st := range configdb.PodStatuses {
		if n := count[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
			delete(count, st)
		}
	}
	// Statuses another writer put there that this version does not know.
	var other []string
	for st := range count {
		other = append(other, string(st))
	}
	sort.Strings(other)
	for _, st := range other {
		parts = append(parts, fmt.Sprintf("%d %s", count[configdb.PodStatus(st)], st))
	}
	return strings.Join(parts, ", ")
}

func (a *app) deleteCmd() *cobra.Command {
	var ignoreNotFound bool
	cmd := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a deployment entry and its state entry (the release-manager uninstalls the release)",
		Args:  cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := configdb.ValidateID(id); err != nil {
				return fmt.Errorf("delete deployment: %w", err)
			}
			return a.withSession(cmd.Context(), func(ctx context.Context, s *session) error {
				found, err := s.store.DeleteDeployment(ctx, id)
				if err != nil {
					return s.dbError("delete deployment "+id, err)
				}
				if !found {
					if ignoreNotFound {
						return nil
					}
					return notFound("delete", id, s.env.ConfigPrefix)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deployment %s deleted\n", id)
				return nil
			})
		}),
	}
	cmd.Flags().BoolVar(&ignoreNotFound, "ignore-not-found", false, "succeed when there is no such deployment")
	return cmd
}

func (a *app) resourcesCmd() *cobra.Command {
	var out *format
	cmd := &cobra.Command{
		Use:   "resources",
		Short: "List the /resource/ entries: networks available for allocation and their supernets",
		Args:  cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			return a.withSession(cmd.Context(), func(ctx context.Context, s *session) error {
				list, err := s.store.ListResources(ctx)
				if err != nil {
					return s.dbError("list resources", err)
				}
				for _, id := range list.Undecodable {
					fmt.Fprintf(a.stderr, "warning: skipped resource entry %s: it does not decode\n", id)
				}
				ids := make([]string, 0, len(list.Resources))
				for id := range list.Resources {
					ids = append(ids, id)
				}
				sort.Strings(ids)
				return write(cmd.OutOrStdout(), *out, list.Resources, func(tw *tabwriter.Writer) {
					row(tw, "ENTRY", "CIDR", "RANGE", "GATEWAY", "CNI", "VLAN", "SUPERNET/MEMBERS")
					for _, id := range ids {
						switch r := list.Resources[id].(type) {
						case configdb.NetworkResource:
							vlan := ""
							if r.VLAN != nil {
								vlan = strconv.Itoa(*r.VLAN)
							}
							rng := ""
							if r.RangeStart != "" || r.RangeEnd != "" {
								rng = r.RangeStart + "-" + r.RangeEnd
							}
							row(tw, id, r.Subnet, rng, r.Gateway, r.CNIType, vlan, r.Supernet)
						case configdb.SupernetResource:
							row(tw, id, r.CIDR, "", "", "", "", strings.Join(r.Members, ","))
						}
					}
				})
			})
		}),
	}
	out = addFormatFlag(cmd)
	return cmd
}
