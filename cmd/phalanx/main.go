// Command phalanx is Phalanx's single binary: daemon, replay, explain,
// hubtest and the CLI. It only wires the command tree; see internal/cli.
package main

import (
	"os"

	"github.com/phalanx-ids/phalanx/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
