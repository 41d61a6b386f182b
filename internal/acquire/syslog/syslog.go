// Package syslog is the `syslog` datasource: a syslog server on UDP and
// TCP that parses RFC 5424 and RFC 3164 messages and re-emits each as the
// classic line "Jan _2 15:04:05 host prog[pid]: msg", as CrowdSec does, so
// the hub's syslog-logs parser reads it. Line.Src is the client's address
// (without port).
//
// TCP accepts octet-counting framing ("LEN SP MSG", RFC 6587) and newline
// framing, chosen per message by its first byte. Messages longer than
// max_message_len are cut (UDP, newline framing) or dropped (octet counting).
// Unparsable messages are dropped unless disable_rfc_parser is set, in
// which case every message is emitted as received.
//
// TCP connections are limited by internal/netguard (`limits`: max_conns
// 1024, max_conns_per_address 64, and idle_timeout 5m: a connection
// silent for that long is closed; the HTTP keys do not apply).
package syslog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/phalanx-ids/phalanx/internal/acquire"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/netguard"
)

// Name is the `source` value of this module.
const Name = "syslog"

// Defaults, as upstream.
const (
	DefaultAddr          = "127.0.0.1"
	DefaultPort          = 514
	DefaultMaxMessageLen = 2048
)

// Config is the YAML configuration of a syslog datasource.
type Config struct {
	acquire.CommonConfig `yaml:",inline"`
	// Protocol is "udp", "tcp" or empty (both).
	Protocol         string `yaml:"protocol"`
	ListenAddr       string `yaml:"listen_addr"`
	ListenPort       *int   `yaml:"listen_port"`
	MaxMessageLen    int    `yaml:"max_message_len"`
	DisableRFCParser bool   `yaml:"disable_rfc_parser"`
	// Limits bound the TCP connections (max_conns, max_conns_per_address,
	// idle_timeout, exempt); see the package doc for the defaults.
	Limits netguard.Config `yaml:"limits"`
}

// tcpLimits are the TCP server's netguard defaults: each connection holds
// a 64 KiB buffer, senders keep long-lived connections.
func tcpLimits() netguard.Config {
	return netguard.Config{MaxConns: 1024, MaxConnsPerAddress: 64, IdleTimeout: 5 * time.Minute,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 5 * time.Minute}
}

// Module returns the registry entry of the syslog datasource.
func Module() acquire.Module {
	return acquire.Module{
		Name:       Name,
		HitsMetric: "cs_syslogsource_hits_total",
		NewConfig:  func() acquire.Config { return &Config{} },
		New: func(c acquire.Config, d acquire.Deps) (acquire.Datasource, error) {
			return New(c.(*Config), d)
		},
	}
}

// Source is a provisioned syslog server.
//
// Concurrency: see acquire.Datasource; connections are read concurrently
// and their lines serialized before emit. Addrs may be called from any
// goroutine.
type Source struct {
	cfg    Config
	udp    bool
	tcp    bool
	addr   string
	maxLen int
	log    *slog.Logger
	now    func() time.Time
	loc    *time.Location
	guard  *netguard.Guard

	// listenUDP and listenTCP bind the sockets (tests make them fail).
	listenUDP func(ctx context.Context, addr string) (net.PacketConn, error)
	listenTCP func(ctx context.Context, addr string) (net.Listener, error)

	listening *acquire.Listening
	mu        sync.Mutex
	udpAddr   net.Addr
	tcpAddr   net.Addr
}

// New validates cfg.
func New(cfg *Config, d acquire.Deps) (*Source, error) {
	s := &Source{cfg: *cfg, log: d.Logger, now: time.Now, loc: time.Local, listening: acquire.NewListening(),
		listenTCP: func(ctx context.Context, addr string) (net.Listener, error) { return netguard.Listen(ctx, "tcp", addr) },
		listenUDP: func(ctx context.Context, addr string) (net.PacketConn, error) {
			var lc net.ListenConfig
			return lc.ListenPacket(ctx, "udp", addr)
		}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Mode == acquire.ModeCat {
		return nil, errors.New("syslog: cat mode is not supported")
	}
	switch cfg.Protocol {
	case "":
		s.udp, s.tcp = true, true
	case "udp":
		s.udp = true
	case "tcp":
		s.tcp = true
	default:
		return nil, fmt.Errorf("syslog: protocol %q: want udp, tcp or empty for both", cfg.Protocol)
	}
	host := cfg.ListenAddr
	if host == "" {
		host = DefaultAddr
	}
	port := DefaultPort
	if cfg.ListenPort != nil {
		port = *cfg.ListenPort
	}
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("syslog: listen_port %d: out of range", port)
	}
	s.addr = net.JoinHostPort(host, strconv.Itoa(port))
	s.maxLen = cfg.MaxMessageLen
	if s.maxLen <= 0 {
		s.maxLen = DefaultMaxMessageLen
	}
	var err error
	if s.guard, err = netguard.New(cfg.Limits.Or(tcpLimits()), netguard.Deps{Name: "syslog", Logger: s.log, Registerer: d.Registerer}); err != nil {
		return nil, fmt.Errorf("syslog: %w", err)
	}
	return s, nil
}

// Addrs waits until Run has bound its sockets and returns the UDP and
// TCP addresses (nil for a protocol not served). Useful with listen_port
// 0. It returns Run's error if Run ended before binding, ctx's if ctx
// ends first.
func (s *Source) Addrs(ctx context.Context) (udp, tcp net.Addr, err error) {
	if err := s.listening.Wait(ctx); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.udpAddr, s.tcpAddr, nil
}

// Run serves until ctx is cancelled.
func (s *Source) Run(ctx context.Context, emit acquire.Emit) (err error) {
	defer func() { s.listening.Ended(err) }()
	pc, ln, err := s.bind(ctx)
	if err != nil {
		return err
	}
	if pc != nil {
		defer pc.Close()
	}
	if ln != nil {
		ln = s.guard.Listener(ln)
		defer ln.Close()
	}
	s.mu.Lock()
	if pc != nil {
		s.udpAddr = pc.LocalAddr()
	}
	if ln != nil {
		s.tcpAddr = ln.Addr()
	}
	s.mu.Unlock()
	s.listening.Bound()
	s.log.Info("syslog: listening", "udp", s.udpAddr, "tcp", s.tcpAddr)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var emitMu sync.Mutex
	var emitErr error
	send := func(l event.Line) bool {
		emitMu.Lock()
		defer emitMu.Unlock()
		if emitErr != nil {
			return false
		}
		if err := emit(l); err != nil {
			emitErr = err
			cancel()
			return false
		}
		return true
	}
	var wg sync.WaitGroup
	go func() {
		<-ctx.Done()
		if pc != nil {
			pc.Close()
		}
		if ln != nil {
			ln.Close()
		}
	}()
	if pc != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.serveUDP(ctx, pc, send) }()
	}
	if ln != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.serveTCP(ctx, ln, send, &wg) }()
	}
	<-ctx.Done()
	wg.Wait()
	emitMu.Lock()
	defer emitMu.Unlock()
	return emitErr
}

// pairTries bounds the tries for a UDP and a TCP socket on one port the
// kernel chooses (listen_port 0 with both protocols).
const pairTries = 32

// bind binds the sockets of the protocols served. With listen_port 0 and
// both protocols, TCP gets a free port from the kernel and UDP the same
// port; that port is only known free for TCP, so when UDP finds it taken
// both are closed and a new port is tried (at most pairTries times).
// (Choosing the port for UDP first fails more often: the kernel hands
// the same ephemeral range to outgoing TCP connections, which hold their
// port against a listener.)
func (s *Source) bind(ctx context.Context) (net.PacketConn, net.Listener, error) {
	if !s.tcp {
		pc, err := s.listenUDP(ctx, s.addr)
		if err != nil {
			return nil, nil, fmt.Errorf("syslog: listen udp %s: %w", s.addr, err)
		}
		return pc, nil, nil
	}
	pair := s.udp && s.cfg.ListenPort != nil && *s.cfg.ListenPort == 0
	for try := 1; ; try++ {
		ln, err := s.listenTCP(ctx, s.addr)
		if err != nil {
			return nil, nil, fmt.Errorf("syslog: listen tcp %s: %w", s.addr, err)
		}
		if !s.udp {
			return nil, ln, nil
		}
		addr := s.addr
		if pair {
			host, _, _ := net.SplitHostPort(s.addr)
			_, p, _ := net.SplitHostPort(ln.Addr().String())
			addr = net.JoinHostPort(host, p)
		}
		pc, err := s.listenUDP(ctx, addr)
		if err == nil {
			return pc, ln, nil
		}
		ln.Close()
		if !pair || !errors.Is(err, syscall.EADDRINUSE) || try == pairTries || ctx.Err() != nil {
			return nil, nil, fmt.Errorf("syslog: listen udp %s: %w", addr, err)
		}
		s.log.Debug("syslog: the port the kernel chose for tcp is taken for udp; trying another", "addr", addr)
	}
}

func (s *Source) serveUDP(ctx context.Context, pc net.PacketConn, send func(event.Line) bool) {
	buf := make([]byte, s.maxLen)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("syslog: udp read", "err", err)
			continue
		}
		if l, ok := s.line(buf[:n], hostOf(from)); ok && !send(l) {
			return
		}
	}
}

func (s *Source) serveTCP(ctx context.Context, ln net.Listener, send func(event.Line) bool, wg *sync.WaitGroup) {
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	go func() {
		<-ctx.Done()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("syslog: tcp accept", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			c.Close()
			return
		}
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { mu.Lock(); delete(conns, c); mu.Unlock(); c.Close() }()
			s.serveConn(c, send)
		}()
	}
}

// serveConn reads framed messages from one TCP connection.
func (s *Source) serveConn(c net.Conn, send func(event.Line) bool) {
	from := hostOf(c.RemoteAddr())
	r := bufio.NewReaderSize(c, 64*1024)
	idle := s.guard.IdleTimeout()
	for {
		_ = c.SetReadDeadline(time.Now().Add(idle))
		msg, err := ReadFrame(r, s.maxLen)
		if len(msg) > 0 {
			if l, ok := s.line(msg, from); ok && !send(l) {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("syslog: tcp connection", "from", from, "err", err)
			}
			return
		}
	}
}

// ReadFrame reads one message of a syslog TCP stream: octet counting
// ("LEN SP MSG") when the next byte is a digit, else up to a newline.
// Newline-framed messages longer than maxLen are cut; an octet-counted
// message longer than maxLen is an error (the stream cannot be trusted).
func ReadFrame(r *bufio.Reader, maxLen int) ([]byte, error) {
	for {
		first, err := r.Peek(1)
		if err != nil {
			return nil, err
		}
		if first[0] == '\n' || first[0] == '\r' {
			_, _ = r.ReadByte()
			continue
		}
		break
	}
	first, _ := r.Peek(1)
	if first[0] >= '1' && first[0] <= '9' {
		n := 0
		for {
			c, err := r.ReadByte()
			if err != nil {
				return nil, err
			}
			if c == ' ' {
				break
			}
			if c < '0' || c > '9' || n > maxLen {
				return nil, fmt.Errorf("syslog: bad octet count")
			}
			n = n*10 + int(c-'0')
		}
		if n > maxLen {
			return nil, fmt.Errorf("syslog: message of %d bytes exceeds max_message_len %d", n, maxLen)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(r, msg); err != nil {
			return nil, err
		}
		return msg, nil
	}
	var msg []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(msg) < maxLen {
			msg = append(msg, chunk[:min(len(chunk), maxLen-len(msg))]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(msg) > 0 && msg[len(msg)-1] == '\n' {
			msg = msg[:len(msg)-1]
		}
		if err != nil && len(msg) > 0 && errors.Is(err, io.EOF) {
			return msg, nil
		}
		return msg, err
	}
}

// line turns a message into an event line.
func (s *Source) line(msg []byte, from string) (event.Line, bool) {
	now := s.now()
	raw := ""
	if s.cfg.DisableRFCParser {
		raw = validUTF8(trimEnd(msg))
	} else {
		m, err := Parse(msg, now, s.loc)
		if err != nil {
			s.log.Debug("syslog: unparsable message dropped", "from", from, "err", err)
			return event.Line{}, false
		}
		if m.Time.IsZero() {
			m.Time = now
		}
		if m.Host == "" {
			m.Host = from
		}
		raw = m.Line(s.loc)
	}
	if raw == "" {
		return event.Line{}, false
	}
	return event.Line{Raw: raw, Src: from, Time: now, Labels: s.cfg.Labels, Module: Name, Process: true}, true
}

func trimEnd(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == 0) {
		b = b[:len(b)-1]
	}
	return b
}

func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}
