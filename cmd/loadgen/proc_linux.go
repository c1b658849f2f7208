package main

import "syscall"

// childAttrs makes the kernel kill the server if loadgen dies, so no run leaves one behind.
func childAttrs() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
