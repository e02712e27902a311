package main

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
)

func TestInheritedFD(t *testing.T) {
	for _, c := range []struct {
		spec, addr string
		fd         int
		ok, err    bool
	}{
		{"", "127.0.0.1:1", 0, false, false},
		{"127.0.0.1:1=3,127.0.0.1:2=4", "127.0.0.1:2", 4, true, false},
		{"127.0.0.1:1=3", "127.0.0.1:2", 0, false, false},
		{"127.0.0.1:1", "127.0.0.1:1", 0, false, true},
		{"127.0.0.1:1=x", "127.0.0.1:1", 0, false, true},
		{"127.0.0.1:1=2", "127.0.0.1:1", 0, false, true}, // stderr is no listener
	} {
		fd, ok, err := inheritedFD(c.spec, c.addr)
		if fd != c.fd || ok != c.ok || (err != nil) != c.err {
			t.Errorf("inheritedFD(%q, %q) = %d, %v, %v; want %d, %v, error %v", c.spec, c.addr, fd, ok, err, c.fd, c.ok, c.err)
		}
	}
}

// TestListenAdoptsInheritedListener hands listen a descriptor of an open
// listener, as a parent process would through exec.Cmd.ExtraFiles.
func TestListenAdoptsInheritedListener(t *testing.T) {
	orig, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := orig.Addr().String()
	// Two raw duplicate descriptors, as a child inherits them; listen takes
	// ownership of each it is given.
	f, err := orig.(*net.TCPListener).File()
	orig.Close()
	if err != nil {
		t.Fatal(err)
	}
	fd1, err1 := syscall.Dup(int(f.Fd()))
	fd2, err2 := syscall.Dup(int(f.Fd()))
	f.Close()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	t.Setenv(listenFDsEnv, fmt.Sprintf("%s=%d", addr, fd1))
	l, err := listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
		}
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("the adopted listener does not accept: %v", err)
	}
	c.Close()

	// The same descriptor named for another address is refused.
	t.Setenv(listenFDsEnv, fmt.Sprintf("127.0.0.1:1=%d", fd2))
	if l2, err := listen("127.0.0.1:1"); err == nil {
		l2.Close()
		t.Fatal("listen adopted a listener bound to another address")
	} else if !strings.Contains(err.Error(), "listens on "+addr) {
		t.Fatalf("listen with a descriptor of another address: %v, want it to name %s", err, addr)
	}
}
