//go:build failpoint

package store

import (
	"os"
	"syscall"
	"time"
)

// FailpointsCompiled reports whether this binary was built with the failpoint tag: this one was.
const FailpointsCompiled = true

// armedFailpoint is the step ENTITLED_FAILPOINT names, read once: the crash tests set it when
// they start the process.
var armedFailpoint = os.Getenv("ENTITLED_FAILPOINT")

// failpoint kills the process with SIGKILL when name is the armed step. SIGKILL rather than
// os.Exit or a panic: no deferred call, rollback or flush may run, exactly as under kill -9 or
// the OOM killer, so the test sees only what the database had made durable.
func failpoint(name string) {
	if armedFailpoint == "" || armedFailpoint != name {
		return
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	// Should the signal take a moment to land, nothing more of this step may run meanwhile. A
	// sleep, not select{}: the runtime would call a process of blocked goroutines deadlocked.
	for {
		time.Sleep(time.Hour)
	}
}
