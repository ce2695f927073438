package sentrygo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/e2e/harness"
)

var srv *harness.Server

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &srv)) }

// newHub returns a hub with its own client for project p, so tests run in
// parallel without sharing the SDK's global state.
func newHub(t *testing.T, p harness.Project, opt sentry.ClientOptions) (*sentry.Hub, *sentry.Client) {
	t.Helper()
	opt.Dsn = p.DSN
	if opt.Release == "" {
		opt.Release = "e2e@1.0.0"
	}
	opt.Environment = "e2e"
	client, err := sentry.NewClient(opt)
	if err != nil {
		t.Fatalf("sentry.NewClient: %v", err)
	}
	t.Cleanup(client.Close)
	return sentry.NewHub(client, sentry.NewScope()), client
}

func flush(t *testing.T, c *sentry.Client) {
	t.Helper()
	if !c.Flush(20 * time.Second) {
		t.Fatal("sentry-go did not flush within 20s")
	}
}

var errDeclined = errors.New("card declined")

// chargeError is a custom error type in the chain, to see its type name
// arrive.
type chargeError struct {
	amount int
	err    error
}

func (e *chargeError) Error() string { return fmt.Sprintf("charge %d cents: %v", e.amount, e.err) }
func (e *chargeError) Unwrap() error { return e.err }

// anyEventID is expected when the SDK returns no id to compare with: the
// envelope must then carry some event_id.
const anyEventID = "(any)"

// expectation is what one case's envelope must look like.
type expectation struct {
	kind    string
	types   []string // item types, in order
	eventID string   // what the SDK returned; anyEventID when it returns none
	check   func(t *testing.T, env *harness.Envelope)
}

// TestSentryGo sends each kind of data sentry-go has an API for. Sessions
// are not among them: sentry-go (v0.50.0) has no release health.
func TestSentryGo(t *testing.T) {
	cases := []struct {
		name string
		send func(t *testing.T, p harness.Project) expectation
	}{
		{"exception with wrapped chain", func(t *testing.T, p harness.Project) expectation {
			hub, client := newHub(t, p, sentry.ClientOptions{})
			err := fmt.Errorf("checkout order 42: %w", &chargeError{amount: 1999, err: errDeclined})
			id := hub.CaptureException(err)
			flush(t, client)
			return expectation{kind: "error", types: []string{"event"}, eventID: eventID(t, id),
				check: func(t *testing.T, env *harness.Envelope) {
					ev := itemJSON(t, env, "event")
					// sentry-go sends the list itself rather than {"values": [...]}.
					values := harness.Dig[[]any](t, ev, "exception")
					var got []string
					for _, v := range values {
						got = append(got, v.(map[string]any)["value"].(string))
					}
					for _, want := range []string{"checkout order 42: charge 1999 cents: card declined", "charge 1999 cents: card declined", "card declined"} {
						if !slices.Contains(got, want) {
							t.Errorf("exception values %q lack %q", got, want)
						}
					}
					if harness.Dig[string](t, ev, "level") != "error" || harness.Dig[string](t, ev, "release") != "e2e@1.0.0" {
						t.Errorf("level %v release %v, want error and e2e@1.0.0", ev["level"], ev["release"])
					}
				}}
		}},
		{"message", func(t *testing.T, p harness.Project) expectation {
			hub, client := newHub(t, p, sentry.ClientOptions{})
			hub.ConfigureScope(func(s *sentry.Scope) {
				s.SetTag("feature", "e2e")
				s.SetLevel(sentry.LevelWarning)
			})
			id := hub.CaptureMessage("disk almost full on /var")
			flush(t, client)
			return expectation{kind: "error", types: []string{"event"}, eventID: eventID(t, id),
				check: func(t *testing.T, env *harness.Envelope) {
					ev := itemJSON(t, env, "event")
					if got := harness.Dig[string](t, ev, "message"); got != "disk almost full on /var" {
						t.Errorf("message %q", got)
					}
					if got := harness.Dig[string](t, ev, "tags", "feature"); got != "e2e" {
						t.Errorf("tag feature %q, want e2e", got)
					}
					if got := harness.Dig[string](t, ev, "level"); got != "warning" {
						t.Errorf("level %q, want warning", got)
					}
				}}
		}},
		{"transaction with spans", func(t *testing.T, p harness.Project) expectation {
			var mu sync.Mutex
			var sentID string
			hub, client := newHub(t, p, sentry.ClientOptions{EnableTracing: true, TracesSampleRate: 1,
				BeforeSendTransaction: func(ev *sentry.Event, _ *sentry.EventHint) *sentry.Event {
					mu.Lock()
					sentID = string(ev.EventID)
					mu.Unlock()
					return ev
				}})
			ctx := sentry.SetHubOnContext(context.Background(), hub)
			tx := sentry.StartTransaction(ctx, "POST /checkout", sentry.WithOpName("http.server"))
			db := tx.StartChild("db.query", sentry.WithDescription("SELECT * FROM orders WHERE id = $1"))
			db.Finish()
			pay := tx.StartChild("http.client", sentry.WithDescription("POST https://payments.example/charge"))
			pay.Finish()
			tx.Finish()
			flush(t, client)
			mu.Lock()
			defer mu.Unlock()
			if sentID == "" {
				t.Fatal("BeforeSendTransaction never saw the transaction")
			}
			return expectation{kind: "transaction", types: []string{"transaction"}, eventID: sentID,
				check: func(t *testing.T, env *harness.Envelope) {
					ev := itemJSON(t, env, "transaction")
					if got := harness.Dig[string](t, ev, "transaction"); got != "POST /checkout" {
						t.Errorf("transaction %q", got)
					}
					if got := harness.Dig[string](t, ev, "contexts", "trace", "trace_id"); got != tx.TraceID.String() {
						t.Errorf("trace_id %q, want %q", got, tx.TraceID)
					}
					var ops []string
					for _, s := range harness.Dig[[]any](t, ev, "spans") {
						ops = append(ops, s.(map[string]any)["op"].(string))
					}
					slices.Sort(ops)
					if !slices.Equal(ops, []string{"db.query", "http.client"}) {
						t.Errorf("span ops %q, want db.query and http.client", ops)
					}
					if tc, _ := env.Header["trace"].(map[string]any); tc["trace_id"] != tx.TraceID.String() {
						t.Errorf("envelope header trace %v, want trace_id %s", env.Header["trace"], tx.TraceID)
					}
				}}
		}},
		{"logs", func(t *testing.T, p harness.Project) expectation {
			hub, client := newHub(t, p, sentry.ClientOptions{})
			ctx := sentry.SetHubOnContext(context.Background(), hub)
			logger := sentry.NewLogger(ctx)
			logger.Info().String("order_id", "42").Emit("order placed")
			logger.Warn().Emitf("stock low for %s", "sku-7")
			flush(t, client)
			return expectation{kind: "log", types: []string{"log"}, eventID: anyEventID,
				check: func(t *testing.T, env *harness.Envelope) {
					it := env.ItemsOf("log")[0]
					if got := it.Header["item_count"]; got != float64(2) {
						t.Errorf("log item_count %v, want 2", got)
					}
					var bodies []string
					for _, l := range harness.Dig[[]any](t, itemJSON(t, env, "log"), "items") {
						bodies = append(bodies, l.(map[string]any)["body"].(string))
					}
					slices.Sort(bodies)
					if want := []string{"order placed", "stock low for sku-7"}; !slices.Equal(bodies, want) {
						t.Errorf("log bodies %q, want %q", bodies, want)
					}
				}}
		}},
		{"attachment", func(t *testing.T, p harness.Project) expectation {
			hub, client := newHub(t, p, sentry.ClientOptions{})
			var id *sentry.EventID
			hub.WithScope(func(s *sentry.Scope) {
				s.AddAttachment(&sentry.Attachment{Filename: "request.json", ContentType: "application/json",
					Payload: []byte(`{"order":42,"items":["sku-7"]}`)})
				s.AddAttachment(&sentry.Attachment{Filename: "dump.bin", Payload: []byte{0, 1, 2, '\n', 255}})
				id = hub.CaptureException(errors.New("order rejected"))
			})
			flush(t, client)
			return expectation{kind: "error", types: []string{"event", "attachment", "attachment"}, eventID: eventID(t, id),
				check: func(t *testing.T, env *harness.Envelope) {
					atts := env.ItemsOf("attachment")
					want := map[string]string{"request.json": `{"order":42,"items":["sku-7"]}`, "dump.bin": "\x00\x01\x02\n\xff"}
					for _, a := range atts {
						name, _ := a.Header["filename"].(string)
						if string(a.Payload) != want[name] {
							t.Errorf("attachment %q holds %q, want %q", name, a.Payload, want[name])
						}
						delete(want, name)
					}
					if len(want) > 0 {
						t.Errorf("attachments missing: %v", want)
					}
				}}
		}},
		{"check-in", func(t *testing.T, p harness.Project) expectation {
			hub, client := newHub(t, p, sentry.ClientOptions{})
			id := hub.CaptureCheckIn(&sentry.CheckIn{MonitorSlug: "nightly-report", Status: sentry.CheckInStatusOK,
				Duration: 3 * time.Second}, &sentry.MonitorConfig{Schedule: sentry.CrontabSchedule("0 3 * * *")})
			flush(t, client)
			if id == nil {
				t.Fatal("CaptureCheckIn returned no id")
			}
			// The envelope's event_id is not the check-in id the SDK returns.
			return expectation{kind: "check_in", types: []string{"check_in"}, eventID: anyEventID,
				check: func(t *testing.T, env *harness.Envelope) {
					ci := itemJSON(t, env, "check_in")
					if ci["check_in_id"] != string(*id) || ci["monitor_slug"] != "nightly-report" || ci["status"] != "ok" {
						t.Errorf("check-in %v, want id %s, slug nightly-report, status ok", ci, *id)
					}
				}}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := srv.CreateProjectT(t, "go-"+strings.ReplaceAll(c.name, " ", "-"))
			want := c.send(t, p)
			ms := srv.MessagesT(t, p.ID, 1)
			if len(ms) != 1 {
				t.Fatalf("INGEST holds %d envelopes of the project, want 1: %q", len(ms), subjects(ms))
			}
			m := ms[0]
			if m.Kind != want.kind {
				t.Errorf("subject %s, want kind %s", m.Subject, want.kind)
			}
			if got := m.Envelope.Types(); !slices.Equal(got, want.types) {
				t.Errorf("item types %q, want %q", got, want.types)
			}
			if got := m.Envelope.EventID(); want.eventID == anyEventID && len(got) != 32 {
				t.Errorf("envelope event_id %q, want 32 hex digits", got)
			} else if want.eventID != anyEventID && got != want.eventID {
				t.Errorf("envelope event_id %q, want %q (what the SDK returned)", got, want.eventID)
			}
			for _, problem := range harness.CheckHeaders(m, p) {
				t.Error(problem)
			}
			if ua := m.Header.Get("Faultline-User-Agent"); !strings.HasPrefix(ua, "sentry.go/") {
				t.Errorf("user agent %q, want sentry.go/…", ua)
			}
			if !t.Failed() && want.check != nil {
				want.check(t, m.Envelope)
			}
		})
	}
}

// TestClientReports drops an event in BeforeSend; sentry-go reports the
// discard with its next envelope.
func TestClientReports(t *testing.T) {
	t.Parallel()
	p := srv.CreateProjectT(t, "go-client-reports")
	hub, client := newHub(t, p, sentry.ClientOptions{
		BeforeSend: func(ev *sentry.Event, _ *sentry.EventHint) *sentry.Event {
			if ev.Message == "drop me" {
				return nil
			}
			return ev
		},
	})
	if id := hub.CaptureMessage("drop me"); id != nil {
		t.Errorf("CaptureMessage of a dropped event returned id %s", *id)
	}
	id := hub.CaptureMessage("keep me")
	flush(t, client)
	ms := srv.MessagesT(t, p.ID, 1)
	var reports []map[string]any
	for _, m := range ms {
		for _, it := range m.Envelope.ItemsOf("client_report") {
			r, err := it.JSON()
			if err != nil {
				t.Fatal(err)
			}
			reports = append(reports, r)
		}
		if m.Envelope.EventID() == eventID(t, id) && m.Kind != "error" {
			t.Errorf("kept event stored under %s, want kind error", m.Subject)
		}
	}
	found := false
	for _, r := range reports {
		for _, d := range harness.Dig[[]any](t, r, "discarded_events") {
			d := d.(map[string]any)
			if d["reason"] == "before_send" && d["category"] == "error" {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no client report of an error discarded before_send in %d envelopes: %v", len(ms), reports)
	}
}

func eventID(t *testing.T, id *sentry.EventID) string {
	t.Helper()
	if id == nil {
		t.Fatal("the SDK returned no event id")
	}
	return string(*id)
}

func subjects(ms []harness.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Subject)
	}
	return out
}

func itemJSON(t *testing.T, env *harness.Envelope, typ string) map[string]any {
	t.Helper()
	its := env.ItemsOf(typ)
	if len(its) == 0 {
		t.Fatalf("no %s item in %q", typ, env.Types())
	}
	m, err := its[0].JSON()
	if err != nil {
		t.Fatal(err)
	}
	return m
}
