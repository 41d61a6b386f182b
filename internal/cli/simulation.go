package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/profile"
	"github.com/phalanx-ids/phalanx/internal/secfile"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// simulation: the simulation.yaml file of the install (global mode and
// per-scenario exclusions). The daemon reads it at start and on SIGHUP.
func newSimulationCmd(a *app) *cobra.Command {
	f := &localFlags{}
	c := &cobra.Command{
		Use:   "simulation [action]",
		Short: "Manage simulation status of scenarios",
		Args:  cobra.ArbitraryArgs,
		RunE:  nounRun,
	}
	f.register(c)
	c.AddCommand(newSimulationStatusCmd(a, f), newSimulationToggleCmd(a, f, true), newSimulationToggleCmd(a, f, false))
	return c
}

func loadSimulation(path string) (profile.Simulation, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return profile.Simulation{}, nil
	}
	if err != nil {
		return profile.Simulation{}, fmt.Errorf("simulation: %w", err)
	}
	return profile.ParseSimulation(path, b)
}

// saveSimulation writes the file atomically (0644: no secret in it).
func saveSimulation(path string, s profile.Simulation) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("simulation: %w", err)
	}
	if err := secfile.WriteFile(path, s.Marshal(), 0o644); err != nil {
		return fmt.Errorf("simulation: %w", err)
	}
	return nil
}

func newSimulationStatusCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the global simulation mode and the scenarios excepted from it",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := f.resolve()
			if err != nil {
				return err
			}
			s, err := loadSimulation(e.Simulation)
			if err != nil {
				return err
			}
			if s.Exclusions == nil {
				s.Exclusions = []string{}
			}
			if e.Output == "json" {
				return writeJSON(a.out, struct {
					Simulation bool     `json:"simulation"`
					Exclusions []string `json:"exclusions"`
				}{s.Enabled, s.Exclusions})
			}
			if s.Enabled {
				fmt.Fprintln(a.out, "global simulation: enabled")
				if len(s.Exclusions) > 0 {
					fmt.Fprintln(a.out, "Scenarios not in simulation mode :")
				}
			} else {
				fmt.Fprintln(a.out, "global simulation: disabled")
				if len(s.Exclusions) > 0 {
					fmt.Fprintln(a.out, "Scenarios in simulation mode :")
				}
			}
			for _, sc := range s.Exclusions {
				fmt.Fprintf(a.out, "  - %s\n", textsafe.Terminal(sc))
			}
			return nil
		},
	}
}

// newSimulationToggleCmd builds "enable" (on) or "disable".
func newSimulationToggleCmd(a *app, f *localFlags, on bool) *cobra.Command {
	verb := map[bool]string{true: "enable", false: "disable"}[on]
	var global bool
	c := &cobra.Command{
		Use:   verb + " [SCENARIO...|--global]",
		Short: verb + " the simulation mode, globally or for scenarios",
		RunE: func(cmd *cobra.Command, args []string) error {
			if global == (len(args) > 0) {
				return &usageError{fmt.Errorf("simulation %s: give scenario names or --global (not both)", verb)}
			}
			e, err := f.resolve()
			if err != nil {
				return err
			}
			s, err := loadSimulation(e.Simulation)
			if err != nil {
				return err
			}
			if global {
				s.Enabled, s.Exclusions = on, nil
				if err := saveSimulation(e.Simulation, s); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "global simulation: %sd\n", verb)
				return reloadHint(a)
			}
			for _, sc := range args {
				if s.IsSimulated(sc) == on {
					fmt.Fprintf(a.err, "simulation mode for '%s' is already %sd\n", sc, verb)
					continue
				}
				// Flip sc: it is an exclusion exactly when its mode differs from the global one.
				if i := slices.Index(s.Exclusions, sc); i >= 0 {
					s.Exclusions = slices.Delete(s.Exclusions, i, i+1)
				} else {
					s.Exclusions = append(s.Exclusions, sc)
				}
				fmt.Fprintf(a.out, "simulation mode for '%s' %sd\n", sc, verb)
			}
			if err := saveSimulation(e.Simulation, s); err != nil {
				return err
			}
			return reloadHint(a)
		},
	}
	c.Flags().BoolVarP(&global, "global", "g", false, verb+" the simulation mode globally (clears the per-scenario exceptions)")
	return c
}

func reloadHint(a *app) error {
	fmt.Fprintln(a.err, "Reload the daemon (SIGHUP, e.g. 'systemctl reload phalanx') for the change to take effect.")
	return nil
}
