package e2e

import "syscall"

// childAttr is how every process a test starts is tied to the test: in a
// process group of its own (so a cleanup kills it with whatever it
// started), and killed by the kernel when the test process dies, however
// it dies (SIGKILL of `go test` or of the test binary included).
//
// Pdeathsig fires when the OS thread that started the child exits, not
// only the process; Go keeps its threads for the life of the process
// unless a goroutine exits while locked to one, which these tests never do.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
