package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/libs/clickhouse"
	"github.com/faultline/faultline/libs/clickhouse/chtest"
)

// The analytics replicas write to a real ClickHouse, started once for the
// package and stopped when it ends.
func TestMain(m *testing.M) { chtest.Main(m) }

// hook is a webhook receiver: a real HTTP server counting the
// webhooks-plugin posts it gets per issue id.
type hook struct {
	*httptest.Server
	mu    sync.Mutex
	posts map[string]int // issue id: posts
	other int            // requests that were no webhook-plugin post
}

func newHook(t *testing.T) *hook {
	h := &hook{posts: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ID string `json:"id"`
		}
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if r.Method != http.MethodPost || json.Unmarshal(b, &body) != nil || body.ID == "" {
			h.other++
			return
		}
		h.posts[body.ID]++
	}))
	t.Cleanup(h.Close)
	return h
}

// waitFor waits until every issue of ids has been posted, then a little
// longer for late duplicates, and says what is missing, doubled or
// unexpected.
func (h *hook) waitFor(ctx context.Context, ids []string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		h.mu.Lock()
		missing := 0
		for _, id := range ids {
			if h.posts[id] == 0 {
				missing++
			}
		}
		h.mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%v after the drain, %d of %d new issues have not been notified", limit, missing, len(ids))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	time.Sleep(2 * time.Second) // a duplicate would come from a redelivery within the ack wait's keepalive
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []string
	for id, n := range h.posts {
		if n != 1 {
			errs = append(errs, fmt.Sprintf("issue %s notified %d times", id, n))
		}
		if !slices.Contains(ids, id) {
			errs = append(errs, fmt.Sprintf("issue %s is not one of the project's", id))
		}
	}
	if h.other > 0 {
		errs = append(errs, fmt.Sprintf("%d requests were no webhook-plugin post", h.other))
	}
	if len(errs) > 0 {
		return fmt.Errorf("webhooks: %s", strings.Join(errs, "; "))
	}
	return nil
}

// notifyNewIssues makes a user and a token with the CLI, then, through the
// REST API as Sentry's tooling would, points the project's webhooks plugin
// at url and adds a rule posting every new issue there.
func notifyNewIssues(ctx context.Context, t *testing.T, bin string, env []string, apiURL string, project int64, url string) {
	t.Helper()
	const email = "cluster-e2e@example.test"
	if out, err := run(ctx, bin, env, "user", "create", "--email", email, "--password", "correct horse battery",
		"--org", "e2e", "--role", "owner"); err != nil {
		t.Fatalf("faultline user create: %v\n%s", err, out)
	}
	out, err := run(ctx, bin, env, "token", "create", "--user", email, "--scopes", "project:read,project:write")
	if err != nil {
		t.Fatalf("faultline token create: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	token := strings.TrimSpace(lines[len(lines)-1])
	base := apiURL + "/api/0/projects/e2e/" + strconv.FormatInt(project, 10) + "/"
	call := func(method, path string, body any) {
		b, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		rb, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, rb)
		}
	}
	call(http.MethodPut, "plugins/webhooks/", map[string]string{"urls": url + "/hook"})
	call(http.MethodPost, "rules/", map[string]any{
		"name": "every new issue to the webhook", "actionMatch": "all", "filterMatch": "all", "frequency": 30,
		"conditions": []any{map[string]any{"id": "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}},
		"actions":    []any{map[string]any{"id": "sentry.rules.actions.notify_event_service.NotifyEventServiceAction", "service": "webhooks"}},
	})
}

// issueIDs are the project's issue ids.
func issueIDs(ctx context.Context, dbURL string, project int64) ([]string, error) {
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer db.Close(ctx)
	rows, err := db.Query(ctx, `SELECT id::text FROM grouping.issues WHERE project_id = $1`, project)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// waitAnalytics waits until ClickHouse holds want error events of the
// project, each once, and says what it holds if it does not within limit.
func waitAnalytics(ctx context.Context, chURL string, project int64, want int, limit time.Duration) error {
	c, err := clickhouse.Open(ctx, chURL)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(limit)
	for {
		var rows, ids uint64
		// FINAL collapses what a redelivery wrote twice, as the API's
		// queries do; the ids say whether anything is there twice anyway.
		if err := c.QueryRow(ctx, `SELECT count(), uniqExact(event_id) FROM errors FINAL WHERE project_id = ?`,
			uint64(project)).Scan(&rows, &ids); err != nil {
			return fmt.Errorf("count errors in ClickHouse: %w", err)
		}
		if rows == uint64(want) && ids == rows {
			return nil
		}
		if time.Now().After(deadline) || rows > uint64(want) {
			return fmt.Errorf("ClickHouse holds %d error rows of %d distinct events, want %d", rows, ids, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
