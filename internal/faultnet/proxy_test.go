package faultnet

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echo serves a line echo server on loopback.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func proxy(t *testing.T) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := NewProxy(ln, echo(t))
	t.Cleanup(func() { p.Close() })
	return p
}

type conn struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, p *Proxy) *conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{c, bufio.NewReader(c)}
}

// roundTrip sends a line and waits up to wait for it to come back.
func (c *conn) roundTrip(line string, wait time.Duration) (string, error) {
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	c.SetReadDeadline(time.Now().Add(wait))
	s, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return s[:len(s)-1], nil
}

func TestPassAndDelay(t *testing.T) {
	p := proxy(t)
	c := dial(t, p)
	if got, err := c.roundTrip("hello", 5*time.Second); err != nil || got != "hello" {
		t.Fatalf("round trip = %q, %v", got, err)
	}
	p.Set(Down, Fault{Delay: 200 * time.Millisecond})
	began := time.Now()
	if got, err := c.roundTrip("slow", 5*time.Second); err != nil || got != "slow" {
		t.Fatalf("delayed round trip = %q, %v", got, err)
	}
	if took := time.Since(began); took < 200*time.Millisecond {
		t.Errorf("a 200ms delay took %v", took)
	}
	// Order is kept across a burst under delay.
	for _, s := range []string{"a", "b", "c"} {
		c.Write([]byte(s + "\n"))
	}
	for _, want := range []string{"a", "b", "c"} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := c.r.ReadString('\n')
		if err != nil || got != want+"\n" {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
}

func TestDropIsABlackHoleEachWay(t *testing.T) {
	for _, d := range []Direction{Up, Down} {
		p := proxy(t)
		c := dial(t, p)
		if _, err := c.roundTrip("before", 5*time.Second); err != nil {
			t.Fatal(err)
		}
		p.Set(d, Fault{Mode: Drop})
		_, err := c.roundTrip("lost", 300*time.Millisecond)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("direction %d dropped: read err %v, want a timeout (the link stays open, silent)", d, err)
		}
		p.Heal()
		if got, err := c.roundTrip("after", 5*time.Second); err != nil || got != "after" {
			t.Fatalf("after healing: %q, %v", got, err)
		}
	}
}

func TestCutResetsAndRefuses(t *testing.T) {
	p := proxy(t)
	c := dial(t, p)
	if _, err := c.roundTrip("before", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Set(Both, Fault{Mode: Cut})
	if _, err := c.roundTrip("during", 5*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("open connection across a cut: %v, want it broken", err)
	}
	c2 := dial(t, p)
	if _, err := c2.roundTrip("new", 5*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("new connection across a cut: %v, want it refused", err)
	}
	p.Heal()
	if got, err := dial(t, p).roundTrip("healed", 5*time.Second); err != nil || got != "healed" {
		t.Fatalf("after healing: %q, %v", got, err)
	}
}

func TestHoldDeliversAfterHeal(t *testing.T) {
	p := proxy(t)
	c := dial(t, p)
	if _, err := c.roundTrip("before", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Set(Both, Fault{Mode: Hold})
	if _, err := c.roundTrip("held", 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read across a hold: %v, want a timeout", err)
	}
	p.Heal()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := c.r.ReadString('\n'); err != nil || got != "held\n" {
		t.Fatalf("after the hold: %q, %v; want the held line delivered", got, err)
	}
	if got, err := c.roundTrip("after", 5*time.Second); err != nil || got != "after" {
		t.Fatalf("after healing: %q, %v", got, err)
	}
}
