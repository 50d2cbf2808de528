// Command sigil is the Sigil authorization server and its admin tool.
//
// Run `sigil --help` for the commands. Exit status: 0 on success, 1 when an
// operation failed (storage unreachable, I/O error), 2 on bad input (unknown
// command or flag, invalid configuration, duplicate or unknown user or
// client, empty password, ...).
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
