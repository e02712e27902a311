//go:build !linux

package e2e

import "syscall"

// childAttr puts a child in its own process group; outside Linux there is
// no parent-death signal, so only the cleanups stop children.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
