//go:build !failpoint

package store

// FailpointsCompiled reports whether this binary was built with the failpoint tag. It is false
// in every ordinary build, where the server refuses to start with ENTITLED_FAILPOINT set, so
// that nobody believes a crash test is armed in production.
const FailpointsCompiled = false

// failpoint marks a named step where the crash tests (server/failpoint_test.go, a binary built
// with -tags failpoint) can kill the process. Here it does nothing, and the compiler inlines it
// away. The steps: order.before_commit and order.after_commit (Orders.Place),
// registration.before_commit (the member row written, its audit row not yet) and
// registration.after_commit (Registrations.Register), notice.before_commit and
// notice.after_commit (each batch of the renewal-notice pass).
func failpoint(string) {}
