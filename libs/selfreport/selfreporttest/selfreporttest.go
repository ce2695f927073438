// Package selfreporttest is a real HTTP server speaking Sentry's envelope
// endpoint, for tests of what Faultline reports about itself: it parses
// each envelope with Faultline's own parser and keeps the events.
package selfreporttest

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/envelope"
)

// Event is what a test looks at in a received event.
type Event struct {
	Level    string            `json:"level"`
	Logger   string            `json:"logger"`
	Message  string            `json:"message"`
	Release  string            `json:"release"`
	Tags     map[string]string `json:"tags"`
	Contexts struct {
		Log map[string]any `json:"log"` // the log record's attributes
	} `json:"contexts"`
	Threads []struct {
		Stacktrace Stacktrace `json:"stacktrace"`
	} `json:"threads"`
	Exception []struct {
		Type       string     `json:"type"`
		Value      string     `json:"value"`
		Stacktrace Stacktrace `json:"stacktrace"`
	} `json:"exception"`
	Raw string `json:"-"` // the item's payload
}

// Stacktrace is an event's stack trace, outermost frame first.
type Stacktrace struct {
	Frames []struct {
		Module   string `json:"module"`
		Function string `json:"function"`
	} `json:"frames"`
}

// Innermost is the innermost frame's function, module-qualified.
func (s Stacktrace) Innermost() string {
	if len(s.Frames) == 0 {
		return ""
	}
	f := s.Frames[len(s.Frames)-1]
	return f.Module + "." + f.Function
}

// Receiver is the server; it accepts envelopes for project 1 with the key
// "public".
type Receiver struct {
	*httptest.Server
	mu     sync.Mutex
	events []Event
	delay  time.Duration
}

// SetDelay makes the receiver wait d before it takes in each envelope, as
// a remote server would.
func (r *Receiver) SetDelay(d time.Duration) {
	r.mu.Lock()
	r.delay = d
	r.mu.Unlock()
}

// Start starts a receiver that lives until the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		delay := r.delay
		r.mu.Unlock()
		time.Sleep(delay)
		if req.Method != http.MethodPost || req.URL.Path != "/api/1/envelope/" {
			t.Errorf("receiver: %s %s, want POST /api/1/envelope/", req.Method, req.URL.Path)
			http.NotFound(w, req)
			return
		}
		if auth := req.Header.Get("X-Sentry-Auth"); !strings.Contains(auth, "sentry_key=public") {
			t.Errorf("receiver: X-Sentry-Auth %q without the DSN's key", auth)
		}
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				t.Errorf("receiver: %v", err)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Errorf("receiver: %v", err)
			return
		}
		env, err := envelope.Parse(b, envelope.DefaultLimits)
		if err != nil {
			t.Errorf("receiver: not an envelope: %v\n%s", err, b)
			return
		}
		for _, it := range env.Items {
			if it.Type != "event" {
				continue
			}
			ev := Event{Raw: string(it.Payload)}
			if err := json.Unmarshal(it.Payload, &ev); err != nil {
				t.Errorf("receiver: event: %v", err)
			}
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
		}
		w.Write([]byte(`{"id":"0"}`))
	}))
	t.Cleanup(r.Close)
	return r
}

// DSN is the receiver's DSN.
func (r *Receiver) DSN() string { return strings.Replace(r.URL, "http://", "http://public@", 1) + "/1" }

// Events are the events received so far.
func (r *Receiver) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}
