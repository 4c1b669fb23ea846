package main

import (
	"context"
	"io"
)

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int     { return 0 }
func recoverCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error { return nil }
