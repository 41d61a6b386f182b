package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/duration"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// importedDecision is one record of `decisions import`: CSV columns or JSON
// fields named as cscli's (reason is the decision's scenario).
type importedDecision struct {
	Value    string `json:"value"`
	Duration string `json:"duration"`
	Type     string `json:"type"`
	Scope    string `json:"scope"`
	Origin   string `json:"origin"`
	Reason   string `json:"reason"`
}

// importDefaults fill the fields a record leaves empty.
type importDefaults struct {
	duration, scope, typ, reason, origin string
}

// parseImport reads records in format (json, csv, values), applies the
// defaults and checks every record; errors name the record.
func parseImport(r io.Reader, format string, def importDefaults) ([]importedDecision, error) {
	var recs []importedDecision
	switch format {
	case "json":
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &recs); err != nil {
			return nil, fmt.Errorf("json: %w", err)
		}
	case "values":
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			if v := strings.TrimSpace(sc.Text()); v != "" {
				recs = append(recs, importedDecision{Value: v})
			}
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	case "csv":
		cr := csv.NewReader(r)
		cr.TrimLeadingSpace = true
		head, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no decisions found")
		}
		if err != nil {
			return nil, fmt.Errorf("csv: %w", err)
		}
		col := map[string]int{}
		for i, h := range head {
			col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
		}
		if _, ok := col["value"]; !ok {
			return nil, errors.New("csv: line 1: no value column in the header")
		}
		get := func(rec []string, k string) string {
			if i, ok := col[k]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		for {
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("csv: %w", err)
			}
			recs = append(recs, importedDecision{Value: get(rec, "value"), Duration: get(rec, "duration"), Type: get(rec, "type"),
				Scope: get(rec, "scope"), Origin: get(rec, "origin"), Reason: get(rec, "reason")})
		}
	default:
		return nil, &usageError{fmt.Errorf("invalid format '%s', expected one of 'json', 'csv', 'values'", format)}
	}
	if len(recs) == 0 {
		return nil, errors.New("no decisions found")
	}
	or := func(v, d string) string {
		if strings.TrimSpace(v) == "" {
			return d
		}
		return strings.TrimSpace(v)
	}
	for i := range recs {
		d := &recs[i]
		d.Value = strings.TrimSpace(d.Value)
		d.Duration, d.Type, d.Reason, d.Origin = or(d.Duration, def.duration), or(d.Type, def.typ), or(d.Reason, def.reason), or(d.Origin, def.origin)
		d.Scope = models.NormalizeScope(or(d.Scope, def.scope))
		if d.Value == "" {
			return nil, fmt.Errorf("decision %d: empty value", i+1)
		}
		if _, err := duration.Positive(d.Duration); err != nil {
			return nil, fmt.Errorf("decision %d (%s): %w", i+1, d.Value, err)
		}
		if _, _, err := store.DecisionRange(d.Scope, d.Value); err != nil {
			return nil, fmt.Errorf("decision %d: %q is not a valid %s", i+1, d.Value, d.Scope)
		}
	}
	return recs, nil
}

func guessFormat(input string) string {
	switch strings.ToLower(filepath.Ext(input)) {
	case ".json":
		return "json"
	case ".csv":
		return "csv"
	}
	return ""
}

func newDecisionsImportCmd(a *app, f *localFlags) *cobra.Command {
	var input, format string
	var def importDefaults
	var batch int
	c := &cobra.Command{
		Use:   "import -i FILE",
		Short: "Import decisions from a CSV, JSON or plain list file",
		Long: `Import decisions from a file (- for stdin). CSV needs a header with a value
column and may have duration, type, scope, origin and reason columns; JSON is a
list of objects with the same fields; "values" is one value per line. Empty
fields take the defaults given by the flags.`,
		Example: `  phalanx decisions import -i decisions.csv
  phalanx decisions import -i - --format values --duration 24h < ips.txt`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			for name, v := range map[string]string{"duration": def.duration, "scope": def.scope, "reason": def.reason, "type": def.typ} {
				if strings.TrimSpace(v) == "" {
					return &usageError{fmt.Errorf("default %s cannot be empty", name)}
				}
			}
			if batch < 0 {
				return &usageError{errors.New("--batch must be >= 0")}
			}
			if format == "" {
				format = guessFormat(input)
				if format == "" {
					return &usageError{errors.New("unable to guess format from file extension, please provide a format with --format flag")}
				}
			}
			var data []byte
			var err error
			if input == "-" {
				data, err = io.ReadAll(a.in)
			} else {
				data, err = os.ReadFile(input)
			}
			if err != nil {
				return fmt.Errorf("decisions import: %w", err)
			}
			fmt.Fprintf(a.out, "Parsing %s\n", format)
			recs, err := parseImport(bytes.NewReader(data), format, def)
			if err != nil {
				return err
			}
			return withClient(cmd, a, f, func(ctx context.Context, _ localEnv, cl *apiclient.Client, login string) error {
				return importDecisions(ctx, a, cl, login, input, recs, batch)
			})
		},
	}
	c.Flags().StringVarP(&input, "input", "i", "", "file to import (- for stdin)")
	c.Flags().StringVar(&format, "format", "", "input format: json, csv or values (default: from the file extension)")
	c.Flags().StringVarP(&def.duration, "duration", "d", "4h", "default decision duration")
	c.Flags().StringVar(&def.scope, "scope", "ip", "default decision scope")
	c.Flags().StringVarP(&def.reason, "reason", "R", "manual", "default decision reason")
	c.Flags().StringVarP(&def.typ, "type", "t", "ban", "default decision type")
	c.Flags().IntVar(&batch, "batch", 0, "decisions per alert pushed to the LAPI (0: all in one)")
	def.origin = "cscli-import"
	_ = c.MarkFlagRequired("input")
	return c
}

func importDecisions(ctx context.Context, a *app, cl *apiclient.Client, login, input string, recs []importedDecision, batch int) error {
	ts := make([]target, len(recs))
	for i, r := range recs {
		ts[i] = target{r.Scope, r.Value}
	}
	hits, err := checkTargets(ctx, cl, ts)
	if err != nil {
		return fmt.Errorf("decisions import: %w", err)
	}
	var ds []*models.Decision
	for _, r := range recs {
		if reasons := hits[r.Value]; len(reasons) > 0 && (r.Scope == "Ip" || r.Scope == "Range") {
			fmt.Fprintf(a.out, "Value %s is allowlisted by [%s]\n", textsafe.Terminal(r.Value), textsafe.Terminal(strings.Join(reasons, ", ")))
			continue
		}
		r := r
		ds = append(ds, &models.Decision{Origin: &r.Origin, Type: &r.Type, Scope: &r.Scope, Value: &r.Value, Duration: &r.Duration, Scenario: &r.Reason})
	}
	if batch == 0 {
		batch = max(len(ds), 1)
	}
	now := time.Now()
	name := input
	if name == "-" {
		name = "stdin"
	}
	for i := 0; i < len(ds); i += batch {
		chunk := ds[i:min(i+batch, len(ds))]
		a.logger().Debug(fmt.Sprintf("Processing chunk of %d decisions", len(chunk)))
		al := manualAlert(login, fmt.Sprintf("import %s: %d IPs", name, len(chunk)), target{"import", name}, chunk, now)
		if _, err := cl.PushAlerts(ctx, []*models.Alert{al}); err != nil {
			return fmt.Errorf("decisions import: after %d decisions: %w", i, err)
		}
	}
	fmt.Fprintf(a.out, "Imported %d decisions\n", len(ds))
	return nil
}
