package cli

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// table is a human table in cscli's layout: a dashed rule, the header, a
// rule, the rows, a rule; cells padded and separated by two spaces. A table
// without header is a key/value block.
type table struct {
	title  string // optional line above the header, within rules
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) render(w io.Writer) {
	t = t.escaped()
	ncol := len(t.header)
	for _, r := range t.rows {
		ncol = max(ncol, len(r))
	}
	width := make([]int, ncol)
	for i, h := range t.header {
		width[i] = utf8.RuneCountInString(h)
	}
	for _, r := range t.rows {
		for i := range width {
			if i < len(r) {
				width[i] = max(width[i], utf8.RuneCountInString(r[i]))
			}
		}
	}
	line := func(cells []string) string {
		var b strings.Builder
		b.WriteByte(' ')
		for i := range width {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)))
		}
		b.WriteByte(' ')
		return b.String()
	}
	head := line(t.header)
	if len(t.header) == 0 && len(t.rows) > 0 {
		head = line(t.rows[0])
	}
	n := utf8.RuneCountInString(head)
	if t.title != "" {
		n = max(n, utf8.RuneCountInString(t.title)+2)
	}
	rule := strings.Repeat("-", n) + "\n"
	var b strings.Builder
	if t.title != "" {
		b.WriteString(rule + " " + t.title + "\n")
	}
	if len(t.header) > 0 {
		b.WriteString(rule + head + "\n")
	}
	b.WriteString(rule)
	for _, r := range t.rows {
		b.WriteString(line(r) + "\n")
	}
	b.WriteString(rule)
	_, _ = io.WriteString(w, b.String())
}

// escaped returns a copy of t with every cell, header and title escaped.
func (t *table) escaped() *table {
	e := &table{title: textsafe.Terminal(t.title), header: make([]string, len(t.header)), rows: make([][]string, len(t.rows))}
	for i, h := range t.header {
		e.header[i] = textsafe.Terminal(h)
	}
	for i, r := range t.rows {
		e.rows[i] = make([]string, len(r))
		for j, c := range r {
			e.rows[i][j] = textsafe.Terminal(c)
		}
	}
	return e
}

// writeJSON prints v indented, as cscli -o json does; a nil slice prints [].
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeCSV prints a header and rows (-o raw).
func writeCSV(w io.Writer, header []string, rows [][]string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	if err := cw.WriteAll(rows); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// fmtTime prints a time for humans (RFC 3339, UTC); zero prints "".
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// jsonTime is a time for -o json: RFC 3339 with nanoseconds, null when zero.
func jsonTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// usageArgs makes a cobra argument check a usage error (exit code 2).
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

// nounRun is the RunE of a noun (machines, decisions...): help without
// arguments, a usage error for an unknown action.
func nounRun(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
	}
	return cmd.Help()
}

// yesNo prints a boolean for humans.
func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

// printInspect prints one object: a key/value table titled title for
// humans, asJSON for -o json, and the rows as key,value CSV for -o raw.
func printInspect(a *app, output, title string, rows [][]string, asJSON any) error {
	switch output {
	case "json":
		return writeJSON(a.out, asJSON)
	case "raw":
		return writeCSV(a.out, []string{"key", "value"}, rows)
	}
	t := &table{title: title, rows: rows}
	t.render(a.out)
	return nil
}

// confirm asks a yes/no question on stderr and reads the answer from
// stdin: only "y" or "yes" (any case) says yes; end of input says no. It
// reads one line byte by byte, leaving the rest of stdin to later questions.
func confirm(a *app, question string) bool {
	fmt.Fprintf(a.err, "%s [y/N] ", question)
	var line []byte
	b := make([]byte, 1)
	for len(line) < 64 {
		n, err := a.in.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			line = append(line, b[0])
		}
		if err != nil {
			break
		}
	}
	switch strings.ToLower(strings.TrimSpace(string(line))) {
	case "y", "yes":
		return true
	}
	return false
}
