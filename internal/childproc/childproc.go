package childproc

import (
	"os"
	"os/exec"
)

// Command returns a command that re-executes the running test binary with
// args, killed by the kernel if the test process dies first (on Linux).
func Command(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.SysProcAttr = dieWithParent()
	return cmd
}
