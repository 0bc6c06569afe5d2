//go:build !linux

package childproc

import "syscall"

// Other systems have no parent-death signal: the tests' own timeouts and
// kills stop their children.
func dieWithParent() *syscall.SysProcAttr { return nil }
