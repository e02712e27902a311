// Package faultnet injects network faults between a client and a server on
// loopback: a TCP proxy whose two directions can each pass, delay, drop
// (a black hole: the connection stays open and nothing arrives, as with a
// one-way partition), hold (nothing arrives until the fault is lifted, then
// everything does, as with a frozen process) or be cut (connections reset,
// new ones refused). Tests put one in front of any listener, so partitions and slow
// links come from the harness, never from routing.
package faultnet

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Mode is what a direction of a link does with the bytes it is given.
type Mode uint8

const (
	Pass Mode = iota // forward (after Delay)
	Drop             // read and discard: the sender sees nothing wrong, the receiver nothing at all
	Cut              // close every connection; refuse new ones
	// Hold keeps the bytes until the direction passes again: the sender's
	// buffers fill and it blocks, as with a process stopped by SIGSTOP;
	// nothing is lost, so the connection works again after Heal.
	Hold
)

// Fault is one direction's behaviour.
type Fault struct {
	Mode  Mode
	Delay time.Duration // with Pass: added to every byte's trip
}

// Direction selects the half of a link a fault applies to.
type Direction uint8

const (
	Up   Direction = 1 << iota // client → server
	Down                       // server → client
	Both = Up | Down
)

// Proxy forwards connections accepted on its listener to a target address,
// applying the faults set on it. The zero faults pass everything.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	up     Fault
	down   Fault
	conns  map[*link]struct{}
	closed bool
	// changed is closed and replaced by every Set.
	changed chan struct{}
	wg      sync.WaitGroup
}

// NewProxy serves ln, forwarding to target, until Close.
func NewProxy(ln net.Listener, target string) *Proxy {
	p := &Proxy{ln: ln, target: target, conns: map[*link]struct{}{}, changed: make(chan struct{})}
	p.wg.Add(1)
	go p.serve()
	return p
}

// Addr is the address clients dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Set applies f to the directions in d. Cutting a direction closes every
// open connection at once; the other modes apply to the next bytes sent.
func (p *Proxy) Set(d Direction, f Fault) {
	p.mu.Lock()
	if d&Up != 0 {
		p.up = f
	}
	if d&Down != 0 {
		p.down = f
	}
	close(p.changed)
	p.changed = make(chan struct{})
	var cut []*link
	if f.Mode == Cut {
		for l := range p.conns {
			cut = append(cut, l)
		}
	}
	p.mu.Unlock()
	for _, l := range cut {
		l.close()
	}
}

// Heal makes both directions pass without delay.
func (p *Proxy) Heal() { p.Set(Both, Fault{}) }

func (p *Proxy) fault(d Direction) Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d == Up {
		return p.up
	}
	return p.down
}

// Close stops accepting, closes every connection and waits for the
// forwarding goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	var all []*link
	for l := range p.conns {
		all = append(all, l)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, l := range all {
		l.close()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		p.mu.Lock()
		refuse := p.closed || p.up.Mode == Cut || p.down.Mode == Cut
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

// held waits while direction d holds its bytes; it reports false if the
// link closed meanwhile.
func (p *Proxy) held(d Direction, l *link) bool {
	for {
		p.mu.Lock()
		f, ch := p.down, p.changed
		if d == Up {
			f = p.up
		}
		p.mu.Unlock()
		if f.Mode != Hold {
			return true
		}
		select {
		case <-ch:
		case <-l.closed:
			return false
		}
	}
}

// link is one proxied connection.
type link struct {
	client, server net.Conn
	once           sync.Once
	closed         chan struct{}
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.closed)
		if tc, ok := l.client.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, as a broken link gives
		}
		l.client.Close()
		l.server.Close()
	})
}

func (p *Proxy) handle(c net.Conn) {
	defer p.wg.Done()
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	l := &link{client: c, server: s, closed: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		l.close()
		return
	}
	p.conns[l] = struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pump(l, c, s, Up) }()
	go func() { defer wg.Done(); p.pump(l, s, c, Down) }()
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, l)
	p.mu.Unlock()
}

// pump copies src to dst under direction d's fault. Bytes keep their order:
// a delay holds each read until its due time, in a queue.
func (p *Proxy) pump(l *link, src, dst net.Conn, d Direction) {
	defer l.close()
	type packet struct {
		due  time.Time
		data []byte
	}
	queue := make(chan packet, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for pk := range queue {
			if wait := time.Until(pk.due); wait > 0 {
				time.Sleep(wait)
			}
			if _, err := dst.Write(pk.data); err != nil {
				l.close()
				for range queue { // drain so the reader never blocks
				}
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.held(d, l) {
				break
			}
			f := p.fault(d)
			switch f.Mode {
			case Pass:
				queue <- packet{due: time.Now().Add(f.Delay), data: append([]byte(nil), buf[:n]...)}
			case Cut:
				err = io.EOF
			}
		}
		if err != nil {
			break
		}
	}
	close(queue)
	<-done
}
