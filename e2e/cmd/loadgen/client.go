package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// conn is a lean HTTP/1.1 keep-alive client for one connection. The load
// generator shares the machine's cores with the server it measures, so it
// writes each request with one syscall from a reused buffer and parses
// only the status line, Content-Length, chunked bodies and Connection:
// close: what a Go net/http server answers.
type conn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
	buf  []byte
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

// do sends req and returns the response status. On any error the
// connection is closed; the next call dials again.
func (c *conn) do(req []byte, timeout time.Duration) (int, error) {
	if c.c == nil {
		nc, err := net.DialTimeout("tcp", c.addr, timeout)
		if err != nil {
			return 0, err
		}
		c.c = nc
		if c.r == nil {
			c.r = bufio.NewReaderSize(nc, 4096)
		} else {
			c.r.Reset(nc)
		}
	}
	c.c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.c.Write(req); err != nil {
		c.close()
		return 0, err
	}
	status, keep, err := c.readResponse()
	if err != nil || !keep {
		c.close()
	}
	return status, err
}

func (c *conn) readResponse() (status int, keepAlive bool, err error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, keepAlive := -1, false, true
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, _ := bytes.Cut(h, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			length, _ = strconv.Atoi(string(value))
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keepAlive = !bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		for {
			sz, err := c.r.ReadSlice('\n')
			if err != nil {
				return 0, false, err
			}
			n, err := strconv.ParseInt(string(bytes.TrimSpace(sz)), 16, 64)
			if err != nil {
				return 0, false, fmt.Errorf("bad chunk size %q", sz)
			}
			if _, err := c.r.Discard(int(n) + 2); err != nil {
				return 0, false, err
			}
			if n == 0 {
				break
			}
		}
	case length >= 0:
		if _, err := c.r.Discard(length); err != nil {
			return 0, false, err
		}
	default:
		// No length: the body runs to the end of the connection.
		io.Copy(io.Discard, c.r)
		return status, false, nil
	}
	return status, keepAlive, nil
}

// request appends an envelope POST of b to dst.
func request(dst []byte, t *target, b *body, seq uint64) []byte {
	var hdr [512]byte
	line := headerLine(hdr[:0], b, seq, t.dsn)
	var mem [600]byte
	first := headerMember(mem[:0], line)
	dst = append(dst, "POST "...)
	dst = append(dst, t.path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, t.host...)
	dst = append(dst, "\r\nUser-Agent: sentry.go/0.31.1\r\nX-Sentry-Auth: Sentry sentry_version=7, sentry_client=sentry.go/0.31.1, sentry_key="...)
	dst = append(dst, t.key...)
	dst = append(dst, "\r\nContent-Type: application/x-sentry-envelope\r\nContent-Encoding: gzip\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(first)+len(b.items)), 10)
	dst = append(dst, "\r\n\r\n"...)
	dst = append(dst, first...)
	return append(dst, b.items...)
}
