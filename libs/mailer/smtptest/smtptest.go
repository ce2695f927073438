// Package smtptest runs a real SMTP server on a loopback TCP port for
// tests: it speaks the protocol (EHLO, MAIL, RCPT, DATA with dot-stuffing,
// RSET, QUIT) to any client, and keeps what it receives.
package smtptest

import (
	"bufio"
	"bytes"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Mail is one received message.
type Mail struct {
	From string
	To   []string
	Data []byte
}

// Parse reads the message.
func (m Mail) Parse() (*mail.Message, error) { return mail.ReadMessage(bytes.NewReader(m.Data)) }

// Server is a running server.
type Server struct {
	Host string
	Port int
	ln   net.Listener
	mu   sync.Mutex
	mail []Mail
	got  chan struct{}
}

// Start starts a server that stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().(*net.TCPAddr)
	s := &Server{Host: "127.0.0.1", Port: a.Port, ln: ln, got: make(chan struct{}, 1000)}
	go s.serve()
	t.Cleanup(func() { ln.Close() })
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Mail is what was received so far.
func (s *Server) Mail() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mail...)
}

// Wait waits until n messages arrived or d passed, and returns them.
func (s *Server) Wait(n int, d time.Duration) []Mail {
	deadline := time.After(d)
	for len(s.Mail()) < n {
		select {
		case <-s.got:
		case <-deadline:
			return s.Mail()
		}
	}
	return s.Mail()
}

func (s *Server) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.session(c)
	}
}

func (s *Server) session(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	reply := func(line string) { c.Write([]byte(line + "\r\n")) }
	reply("220 smtptest ESMTP ready")
	var cur Mail
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(verb, "EHLO"):
			reply("250-smtptest")
			reply("250-8BITMIME")
			reply("250 SIZE 10485760")
		case strings.HasPrefix(verb, "HELO"):
			reply("250 smtptest")
		case strings.HasPrefix(verb, "MAIL FROM:"):
			cur = Mail{From: addrOf(line[len("MAIL FROM:"):])}
			reply("250 OK")
		case strings.HasPrefix(verb, "RCPT TO:"):
			cur.To = append(cur.To, addrOf(line[len("RCPT TO:"):]))
			reply("250 OK")
		case verb == "DATA":
			if cur.From == "" || len(cur.To) == 0 {
				reply("503 need MAIL and RCPT first")
				continue
			}
			reply("354 end with <CRLF>.<CRLF>")
			var data bytes.Buffer
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, ".")) // dot-stuffing
			}
			cur.Data = data.Bytes()
			s.mu.Lock()
			s.mail = append(s.mail, cur)
			s.mu.Unlock()
			s.got <- struct{}{}
			cur = Mail{}
			reply("250 OK queued")
		case verb == "RSET":
			cur = Mail{}
			reply("250 OK")
		case verb == "NOOP":
			reply("250 OK")
		case verb == "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 command not implemented")
		}
	}
}

func addrOf(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, ' '); i >= 0 {
		s = s[:i] // parameters such as BODY=8BITMIME
	}
	return strings.Trim(s, "<>")
}
