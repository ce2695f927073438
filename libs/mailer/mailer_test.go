package mailer_test

import (
	"context"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/libs/mailer"
	"github.com/faultline/faultline/libs/mailer/smtptest"
)

func TestSendMultipart(t *testing.T) {
	srv := smtptest.Start(t)
	m := mailer.New(config.SMTPConfig{Host: srv.Host, Port: srv.Port, From: "faultline@example.com", TLS: "none"})
	err := m.Send(context.Background(), mailer.Message{
		To:      "dev@example.com",
		Subject: "Täst\r\nBcc: evil@example.com",
		Text:    "line one\n.starts with a dot\nhttp://localhost:8080/issues/1/",
		HTML:    `<p>line one</p><a href="http://localhost:8080/issues/1/">issue</a>`,
		Headers: map[string]string{"X-Faultline-Rule": "r1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(1, 5*time.Second)
	if len(got) != 1 || got[0].From != "faultline@example.com" || got[0].To[0] != "dev@example.com" {
		t.Fatalf("received %+v", got)
	}
	msg, err := got[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Bcc") != "" {
		t.Fatal("a header was injected through the subject")
	}
	subj, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if subj != "Täst  Bcc: evil@example.com" || msg.Header.Get("X-Faultline-Rule") != "r1" {
		t.Fatalf("subject %q, rule header %q", subj, msg.Header.Get("X-Faultline-Rule"))
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: %v", mt, err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types, bodies []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p) // multipart decodes quoted-printable
		types = append(types, p.Header.Get("Content-Type"))
		bodies = append(bodies, string(b))
	}
	if len(types) != 2 || !strings.HasPrefix(types[0], "text/plain") || !strings.HasPrefix(types[1], "text/html") {
		t.Fatalf("parts %v", types)
	}
	if !strings.Contains(bodies[0], "\r\n.starts with a dot") || !strings.Contains(bodies[1], `href="http://localhost:8080/issues/1/"`) {
		t.Fatalf("bodies %q", bodies)
	}
}

func TestOff(t *testing.T) {
	if err := mailer.New(config.SMTPConfig{}).Send(context.Background(), mailer.Message{To: "a@b.c"}); err != mailer.ErrOff {
		t.Fatalf("got %v, want ErrOff", err)
	}
}
