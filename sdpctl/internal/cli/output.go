package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// format is the -o value of the read commands. As a flag value it refuses
// unknown names while the command line is parsed, listing the choices.
type format string

const (
	formatTable format = "table"
	formatJSON  format = "json"
	formatYAML  format = "yaml"
)

var formats = []format{formatTable, formatJSON, formatYAML}

func (f *format) String() string { return string(*f) }
func (f *format) Type() string   { return "format" }

func (f *format) Set(v string) error {
	for _, known := range formats {
		if format(v) == known {
			*f = known
			return nil
		}
	}
	names := make([]string, len(formats))
	for i, k := range formats {
		names[i] = string(k)
	}
	return fmt.Errorf("unknown output format; choose one of %s", strings.Join(names, ", "))
}

func addFormatFlag(cmd *cobra.Command) *format {
	f := formatTable
	cmd.Flags().VarP(&f, "output", "o", "output format: table, json or yaml")
	return &f
}

// writeJSON writes v as indented JSON; raw JSON documents inside v (entries
// as the contract encodes them) are re-indented to match.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeYAML writes v as YAML, through its JSON form so that the field names
// are the same in both formats.
func writeYAML(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	y, err := yaml.JSONToYAML(b)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = w.Write(y)
	return err
}

// write writes v as JSON or YAML, or calls table for the table format.
func write(w io.Writer, f format, v any, table func(tw *tabwriter.Writer)) error {
	switch f {
	case formatJSON:
		return writeJSON(w, v)
	case formatYAML:
		return writeYAML(w, v)
	}
	tw := newTable(w)
	table(tw)
	return tw.Flush()
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
}

// row writes one table row; empty cells show as "-" so that every column
// has a value.
func row(tw io.Writer, cells ...string) {
	for i, c := range cells {
		if c == "" {
			c = "-"
		}
		// A tab or newline inside a cell (an error message) would break
		// the columns.
		cells[i] = strings.Join(strings.Fields(c), " ")
	}
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
}
