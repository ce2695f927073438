// Package mailer owns Faultline's outgoing mail: RFC 5322 messages, plain
// text or multipart text and HTML, sent through the SMTP_* server with
// STARTTLS, implicit TLS or none, and PLAIN auth.
package mailer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/libs/config"
)

// ErrOff is returned when no SMTP server is configured.
var ErrOff = errors.New("mail is off: SMTP_HOST is not set")

// Message is one mail to one address.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string            // "" sends text only
	Headers map[string]string // extra headers (List-Id, X-Faultline-…); values are folded to one line
}

// Mailer sends through the configured server.
type Mailer struct {
	cfg config.SMTPConfig
	// TLSConfig is used for STARTTLS and implicit TLS; nil verifies the
	// server's certificate against the system roots.
	TLSConfig *tls.Config
}

// New returns a mailer for cfg.
func New(cfg config.SMTPConfig) *Mailer { return &Mailer{cfg: cfg} }

// Enabled reports whether a server is configured.
func (m *Mailer) Enabled() bool { return m != nil && m.cfg.Host != "" }

// Send delivers msg, within 30 seconds.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	if !m.Enabled() {
		return ErrOff
	}
	rcpt, err := mail.ParseAddress(msg.To)
	if err != nil {
		return fmt.Errorf("mail to %q: %w", msg.To, err)
	}
	from, err := mail.ParseAddress(m.cfg.From)
	if err != nil {
		return fmt.Errorf("SMTP_FROM %q: %w", m.cfg.From, err)
	}
	data, err := Build(from, rcpt, msg, time.Now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := m.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	steps := []struct {
		what string
		do   func() error
	}{
		{"MAIL FROM", func() error { return c.Mail(from.Address) }},
		{"RCPT TO", func() error { return c.Rcpt(rcpt.Address) }},
		{"DATA", func() error {
			w, err := c.Data()
			if err != nil {
				return err
			}
			if _, err := w.Write(data); err != nil {
				return err
			}
			return w.Close()
		}},
		{"QUIT", c.Quit},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("smtp %s: %w", s.what, err)
		}
	}
	return nil
}

// dial connects, greets, secures and authenticates.
func (m *Mailer) dial(ctx context.Context) (*smtp.Client, error) {
	addr := net.JoinHostPort(m.cfg.Host, strconv.Itoa(m.cfg.Port))
	tlsCfg := m.TLSConfig
	if tlsCfg == nil {
		tlsCfg = &tls.Config{ServerName: m.cfg.Host, MinVersion: tls.VersionTLS12}
	}
	d := &net.Dialer{}
	var conn net.Conn
	var err error
	if m.cfg.TLS == "tls" {
		conn, err = (&tls.Dialer{NetDialer: d, Config: tlsCfg}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to SMTP server %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, m.cfg.Host)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("smtp %s: %w", addr, err)
	}
	fail := func(err error) (*smtp.Client, error) { c.Close(); return nil, err }
	if err := c.Hello("faultline"); err != nil {
		return fail(fmt.Errorf("smtp hello: %w", err))
	}
	if m.cfg.TLS == "starttls" {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fail(fmt.Errorf("smtp %s does not offer STARTTLS (set SMTP_TLS=none to send in clear)", addr))
		}
		if err := c.StartTLS(tlsCfg); err != nil {
			return fail(fmt.Errorf("smtp starttls: %w", err))
		}
	}
	if m.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", m.cfg.Username, m.cfg.Password, m.cfg.Host)); err != nil {
			return fail(fmt.Errorf("smtp auth: %w", err))
		}
	}
	return c, nil
}

func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

// Build formats msg. Addresses come parsed and header values are folded to
// one line and Q-encoded, so no header can be injected.
func Build(from, to *mail.Address, msg Message, now time.Time) ([]byte, error) {
	id := make([]byte, 12)
	rand.Read(id)
	host := "faultline"
	if _, h, ok := strings.Cut(from.Address, "@"); ok {
		host = h
	}
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from.String())
	hdr("To", to.String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", oneLine(msg.Subject)))
	hdr("Date", now.UTC().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+hex.EncodeToString(id)+"@"+host+">")
	for k, v := range msg.Headers {
		hdr(textproto.CanonicalMIMEHeaderKey(oneLine(k)), mime.QEncoding.Encode("utf-8", oneLine(v)))
	}
	hdr("MIME-Version", "1.0")
	if msg.HTML == "" {
		hdr("Content-Type", "text/plain; charset=utf-8")
		hdr("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		return b.Bytes(), writeQP(&b, msg.Text)
	}
	w := multipart.NewWriter(&b)
	hdr("Content-Type", "multipart/alternative; boundary="+w.Boundary())
	b.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", msg.Text}, {"text/html", msg.HTML}} {
		pw, err := w.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(pw, part.body); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeQP(w interface{ Write([]byte) (int, error) }, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n"))); err != nil {
		return err
	}
	return qp.Close()
}
