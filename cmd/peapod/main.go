// Command peapod runs Kubernetes Pods on one Linux machine.
package main

import (
	"os"

	"peapod/internal/cli"
	"peapod/internal/runtime/conmon"
)

func main() {
	// The main thread stays idle so the orphans handed to us are told
	// from os/exec's children (see RunOffMainThread).
	os.Exit(conmon.RunOffMainThread(func() int {
		return cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	}))
}
