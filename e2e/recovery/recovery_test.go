package recovery

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/e2e/harness"
	"github.com/faultline/faultline/libs/natsx/natstest"
)

// recoveryLimit is how soon after a restart everything accepted before the
// kill must be stored.
const recoveryLimit = 30 * time.Second

// TestKill9MidLoadRecovers kills the all-in-one with SIGKILL while senders
// load it flat out and grouping holds delivered, unacknowledged messages,
// restarts it, and checks that every event answered 200 is stored exactly
// once (one row, counted once in its issue) and that grouping has nothing
// left to do, within 30 seconds of the restart. NATS runs in the test
// process, so the stream outlives the kill as a separate NATS would.
func TestKill9MidLoadRecovers(t *testing.T) {
	stopMidLoad(t, "kill -9", func(s *harness.Server) error { return s.Kill() }, false)
}

// TestSIGTERMMidLoadRecovers stops the all-in-one gracefully in the
// middle of the same load: it exits cleanly, gives back what it held, and
// after a restart everything accepted is stored exactly once.
func TestSIGTERMMidLoadRecovers(t *testing.T) {
	stopMidLoad(t, "SIGTERM", func(s *harness.Server) error { return s.Terminate() }, true)
}

// stopMidLoad loads the all-in-one, stops it with stop while grouping holds
// messages, restarts it and checks that nothing accepted was lost or
// doubled. A graceful stop may have finished everything before it exited.
func stopMidLoad(t *testing.T, how string, stop func(*harness.Server) error, graceful bool) {
	ns := natstest.Start(t)
	nc := ns.Connect(t)
	s := harness.StartT(t, harness.Options{NATSURL: ns.URL, Env: map[string]string{
		"MAX_EVENTS_PER_MINUTE": "0", "MAX_EVENTS_PER_HOUR": "0",
		"MAX_EVENTS_PER_PROJECT_PER_MINUTE": "0", "MAX_EVENTS_PER_PROJECT_PER_HOUR": "0",
		"LOG_LEVEL": "info",
	}})
	p := s.CreateProjectT(t, "recovery")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	grouping, err := nc.JS.Consumer(ctx, "INGEST", "grouping")
	if err != nil {
		t.Fatalf("grouping's consumer: %v", err)
	}

	// Senders post distinct events until the kill.
	var (
		mu       sync.Mutex
		accepted = map[string]bool{} // event ids answered 200
		refused  int
		halt     = make(chan struct{})
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-halt:
					return
				default:
				}
				id := newEventID()
				status, err := send(client, s.URL, p, id, fmt.Sprintf("recovery-%d", (w*7+i)%25))
				mu.Lock()
				if err == nil && status == http.StatusOK {
					accepted[id] = true
				} else if err == nil {
					refused++
				}
				mu.Unlock()
			}
		}()
	}

	// Kill once the load has run a while and grouping holds messages it
	// has been delivered and not yet acknowledged: those are what a long
	// ack wait would hold back after the restart.
	loadStart := time.Now()
	var inFlight int
	for {
		if time.Since(loadStart) > 60*time.Second {
			close(halt)
			wg.Wait()
			t.Fatal("grouping never held unacknowledged messages under load")
		}
		time.Sleep(50 * time.Millisecond)
		if time.Since(loadStart) < 3*time.Second {
			continue
		}
		info, err := grouping.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumAckPending >= 10 {
			inFlight = info.NumAckPending
			break
		}
	}
	if err := stop(s); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	close(halt)
	wg.Wait()
	mu.Lock()
	n := len(accepted)
	mu.Unlock()
	if refused > 0 {
		t.Errorf("the gateway refused %d events under load before the stop", refused)
	}
	stored, err := storedEvents(ctx, s, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s after %v of load: %d events accepted, %d stored, %d delivered to grouping and unacknowledged before",
		how, killedAt.Sub(loadStart).Round(time.Millisecond), n, len(stored), inFlight)
	if len(stored) >= n && !graceful {
		t.Fatalf("all %d accepted events were stored before the kill: the kill was not mid-load", n)
	}

	restartedAt := time.Now()
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	ready := time.Since(restartedAt)
	var recovered time.Duration
	for {
		// The consumer's state first: grouping acknowledges after commit,
		// so once nothing is pending every event it took is in the rows
		// read next. Read the other way round, an event whose sender saw
		// the kill (stored, not accepted) could commit in between and be
		// counted in its issue but missing from the rows.
		info, err := grouping.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stored, err = storedEvents(ctx, s, p)
		if err != nil {
			t.Fatal(err)
		}
		missing := 0
		for id := range accepted {
			if stored[id] == 0 {
				missing++
			}
		}
		if missing == 0 && info.NumPending == 0 && info.NumAckPending == 0 {
			recovered = time.Since(restartedAt)
			break
		}
		if time.Since(restartedAt) > recoveryLimit {
			t.Fatalf("%v after the restart %d of %d accepted events are not stored; grouping has %d messages pending and %d unacknowledged",
				recoveryLimit, missing, n, info.NumPending, info.NumAckPending)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("recovered %v after the restart (ready after %v, %v after the stop)",
		recovered.Round(time.Millisecond), ready.Round(time.Millisecond), time.Since(killedAt).Round(time.Millisecond))

	// Exactly once: one row per event, each counted once in its issue.
	rows, seen := 0, int64(0)
	for id, c := range stored {
		rows += c
		if c != 1 {
			t.Errorf("event %s is stored %d times", id, c)
		}
	}
	db, err := pgx.Connect(ctx, s.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if err := db.QueryRow(ctx, `SELECT coalesce(sum(times_seen), 0) FROM grouping.issues WHERE project_id = $1`, p.ID).Scan(&seen); err != nil {
		t.Fatal(err)
	}
	if seen != int64(rows) {
		t.Errorf("the project's issues have seen %d events, %d are stored", seen, rows)
	}
}

// storedEvents counts the project's stored events by id.
func storedEvents(ctx context.Context, s *harness.Server, p harness.Project) (map[string]int, error) {
	db, err := pgx.Connect(ctx, s.DatabaseURL())
	if err != nil {
		return nil, err
	}
	defer db.Close(ctx)
	rows, err := db.Query(ctx, `SELECT replace(event_id::text, '-', ''), count(*) FROM grouping.events WHERE project_id = $1 GROUP BY event_id`, p.ID)
	if err != nil {
		return nil, fmt.Errorf("read stored events: %w", err)
	}
	out := map[string]int{}
	var id string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error { out[id] = n; return nil })
	return out, err
}

func newEventID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// send posts one error event, fingerprinted into one of a few issues.
func send(c *http.Client, base string, p harness.Project, id, group string) (int, error) {
	event := fmt.Sprintf(`{"event_id":%q,"timestamp":%q,"platform":"go","level":"error","message":"recovery test %s","fingerprint":[%q]}`,
		id, time.Now().UTC().Format(time.RFC3339Nano), id, group)
	body := fmt.Sprintf("{\"event_id\":%q}\n{\"type\":\"event\",\"length\":%d}\n%s\n", id, len(event), event)
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/%d/envelope/", base, p.ID), bytes.NewBufferString(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-sentry-envelope")
	req.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_client=recovery-e2e/1.0, sentry_key="+p.PublicKey)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
