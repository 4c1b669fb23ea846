//go:build !linux

package main

import "time"

// threadCPU cannot read a thread's CPU time here: work falls back to wall
// time.
func threadCPU() (time.Duration, bool) { return 0, false }
