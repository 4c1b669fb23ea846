// Command runc-capfilter is a Docker runtime that drops the capabilities the
// host's bounding set lacks from OCI specs, then runs the real runc. The
// Docker setup script registers it only on hosts that need it.
package main

import (
	"fmt"
	"os"
	"syscall"

	"github.com/chaosgate/chaosgate/clusters/capfilter"
)

// realRunc may be overridden at build time with -ldflags -X.
var realRunc = "/usr/sbin/runc"

func main() {
	if bnd, err := capfilter.BoundingSet(); err == nil && !bnd.Complete() {
		cwd, _ := os.Getwd()
		if _, err := capfilter.Rewrite(capfilter.TargetFor(os.Args[1:], cwd), bnd); err != nil {
			fmt.Fprintf(os.Stderr, "runc-capfilter: %v\n", err)
			os.Exit(1)
		}
	}
	args := append([]string{realRunc}, os.Args[1:]...)
	err := syscall.Exec(realRunc, args, os.Environ())
	fmt.Fprintf(os.Stderr, "runc-capfilter: exec %s: %v\n", realRunc, err)
	os.Exit(1)
}
