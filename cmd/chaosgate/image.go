package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/chaosgate/chaosgate/clusters/nodeimage"
)

func imageCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "build" {
		return usagef("usage: chaosgate image build [--offline] [--cache DIR]")
	}
	fs := flag.NewFlagSet("image build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	offline := fs.Bool("offline", false, "always build offline, even when kindest/node can be pulled")
	cache := fs.String("cache", nodeimage.DefaultCacheDir(), "cache folder for build stages")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("image build: unexpected arguments %v", fs.Args())
	}
	res, err := nodeimage.Ensure(ctx, nodeimage.Options{Offline: *offline, CacheDir: *cache, Progress: stderr})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res.Image)
	return nil
}
