// Package cli is the phalanx command tree, one file per noun. Commands write
// to the streams they are given (tests run them in-process) and return
// errors; Main maps them to exit codes.
package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// Exit codes scripts can rely on.
const (
	ExitOK      = 0
	ExitError   = 1 // the command failed (bad input, I/O)
	ExitUsage   = 2 // bad flags or arguments
	ExitFailure = 3 // the command ran but found failures (hubtest cases failed)
)

// failureError marks "ran fine, but the verdict is negative".
type failureError struct{ msg string }

func (e *failureError) Error() string { return e.msg }

type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// app carries the streams and global flags to the subcommands.
type app struct {
	in       io.Reader
	out, err io.Writer
	logLevel string
}

func (a *app) logger() *slog.Logger {
	var lvl slog.Level
	switch a.logLevel {
	case "debug":
		lvl = slog.LevelDebug
	case "info":
		lvl = slog.LevelInfo
	case "error":
		lvl = slog.LevelError
	default:
		lvl = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(a.err, &slog.HandlerOptions{Level: lvl}))
}

// NewRoot builds the command tree over the given streams.
func NewRoot(in io.Reader, out, errw io.Writer) *cobra.Command {
	a := &app{in: in, out: out, err: errw}
	root := &cobra.Command{
		Use:           "phalanx",
		Short:         "Phalanx: behaviour detection and crowd blocking, CrowdSec-compatible",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errw)
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{err} })
	root.AddCommand(newExplainCmd(a), newReplayCmd(a), newHubtestCmd(a), newRunCmd(a))
	root.AddCommand(lapiNouns(a)...)
	root.AddCommand(newNotificationsCmd(a))
	root.AddCommand(hubNouns(a)...)
	root.AddCommand(newVersionCmd(a), newSetupCmd(a), newCentralCmd(a))
	return root
}

// Main runs the CLI and returns the process exit code.
func Main(args []string, in io.Reader, out, errw io.Writer) int {
	root := NewRoot(in, out, errw)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(errw, "phalanx:", textsafe.Terminal(err.Error()))
	var fe *failureError
	var ue *usageError
	switch {
	case errors.As(err, &fe):
		return ExitFailure
	case errors.As(err, &ue):
		return ExitUsage
	}
	return ExitError
}
