//go:build !linux

package main

import "syscall"

// childAttrs: only Linux can tie the server's life to loadgen's; elsewhere loadgen's own
// shutdown stops it.
func childAttrs() *syscall.SysProcAttr { return nil }
