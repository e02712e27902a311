package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// listenFDsEnv names listening sockets a server role inherits instead of
// opening them: CAIRN_LISTEN_FDS=host:port=fd[,host:port=fd...]. When a
// role is about to listen on an address listed there, it takes the open
// listener on that file descriptor instead (it must be a TCP socket bound
// to exactly that address). The parent keeps the port from the moment it
// chose it, so nothing else can take it in between: the test harness uses
// this (exec.Cmd.ExtraFiles), and a supervisor doing socket activation
// could. Addresses not listed are opened as usual.
const listenFDsEnv = "CAIRN_LISTEN_FDS"

// listen opens a TCP listener on addr, or adopts the inherited one that
// CAIRN_LISTEN_FDS names for addr.
func listen(addr string) (net.Listener, error) {
	l, err := inherited(addr)
	if l != nil || err != nil {
		return l, err
	}
	return net.Listen("tcp", addr)
}

// inheritedListeners adopts the inherited listener of each address that
// CAIRN_LISTEN_FDS names; the others come back nil (the role listens on
// them itself). On error it closes what it adopted.
func inheritedListeners(addrs ...string) ([]net.Listener, error) {
	ls := make([]net.Listener, len(addrs))
	for i, a := range addrs {
		var err error
		if ls[i], err = inherited(a); err != nil {
			for _, l := range ls[:i] {
				if l != nil {
					l.Close()
				}
			}
			return nil, err
		}
	}
	return ls, nil
}

// inherited returns the listener CAIRN_LISTEN_FDS names for addr, or nil
// when it names none. It closes the descriptor either way (the listener
// holds a copy), so each one can be adopted once.
func inherited(addr string) (net.Listener, error) {
	fd, ok, err := inheritedFD(os.Getenv(listenFDsEnv), addr)
	if err != nil || !ok || addr == "" {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "listener "+addr)
	if f == nil {
		return nil, fmt.Errorf("%s: fd %d for %s is not open", listenFDsEnv, fd, addr)
	}
	defer f.Close() // FileListener holds its own copy
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("%s: fd %d for %s: %w", listenFDsEnv, fd, addr, err)
	}
	if got := l.Addr().String(); got != addr {
		l.Close()
		return nil, fmt.Errorf("%s: fd %d listens on %s, not %s", listenFDsEnv, fd, got, addr)
	}
	return l, nil
}

// inheritedFD finds addr in a CAIRN_LISTEN_FDS value.
func inheritedFD(spec, addr string) (fd int, ok bool, err error) {
	if spec == "" {
		return 0, false, nil
	}
	for _, e := range strings.Split(spec, ",") {
		a, n, found := strings.Cut(strings.TrimSpace(e), "=")
		if !found {
			return 0, false, fmt.Errorf("%s: %q is not host:port=fd", listenFDsEnv, e)
		}
		fd, err := strconv.Atoi(n)
		if err != nil || fd < 3 {
			return 0, false, fmt.Errorf("%s: %q: the fd must be a number from 3 up", listenFDsEnv, e)
		}
		if a == addr {
			return fd, true, nil
		}
	}
	return 0, false, nil
}
