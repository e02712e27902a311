package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnfs/cairn/internal/await"
)

// helperEnv, when set, makes TestHelperParent act as a test that starts a
// cairn process the way every test here does and then waits to be killed;
// its value is the file to write the child's PID to.
const helperEnv = "CAIRN_E2E_HELPER_PIDFILE"

// TestChildrenDieWithTheTest runs this test binary as a parent test that
// starts a cairn data node through start, kills that parent with SIGKILL
// (so no cleanup runs), and checks that the kernel killed the data node
// too.
func TestChildrenDieWithTheTest(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	parent := exec.Command(os.Args[0], "-test.run=^TestHelperParent$", "-test.v")
	parent.Env = append(os.Environ(), helperEnv+"="+pidFile, binaryEnv+"="+binary)
	// The helper's output goes to a file, read only for messages.
	log, err := os.Create(filepath.Join(dir, "helper.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	out := func() string { b, _ := os.ReadFile(log.Name()); return string(b) }
	parent.Stdout, parent.Stderr = log, log
	parent.SysProcAttr = childAttr()
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		parent.Process.Kill()
		parent.Wait()
	}()
	var child int
	await.Until(t, time.Minute, func() error {
		b, err := os.ReadFile(pidFile)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return fmt.Errorf("the helper has not started its child: %v\n%s", err, out())
		}
		child, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err
	})
	if !alive(child) {
		t.Fatalf("child %d is not running before its parent was killed", child)
	}
	// Kill the parent alone, not its process group: only the parent-death
	// signal can reach the child now.
	if err := parent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	parent.Wait()
	await.Until(t, time.Minute, func() error {
		if alive(child) {
			return fmt.Errorf("cairn child %d still runs after its test process was killed", child)
		}
		return nil
	})
	if ps := parent.ProcessState; ps == nil || ps.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("the helper parent ended with %v, not by SIGKILL:\n%s", ps, out())
	}
}

// alive reports whether pid runs and is not a zombie waiting for a reaper.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestHelperParent is the parent that TestChildrenDieWithTheTest kills;
// it does nothing in a normal run.
func TestHelperParent(t *testing.T) {
	pidFile := os.Getenv(helperEnv)
	if pidFile == "" {
		t.Skip("a helper for TestChildrenDieWithTheTest")
	}
	dir := t.TempDir()
	l := listener(t)
	// A data node whose metadata service never answers keeps running and
	// retrying registration until it is stopped.
	p := start(t, dir, "orphan", []net.Listener{l}, "node", "--dir", filepath.Join(dir, "n"),
		"--addr", l.Addr().String(), "--meta", l.Addr().String(), "--insecure")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(p.cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Wait to be killed; the bound only keeps a lost helper from living on.
	time.Sleep(2 * time.Minute)
	t.Error("the helper parent was not killed")
}
