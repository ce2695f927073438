package web_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"crypto/rand"

	"github.com/go-chi/chi/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/decide"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/libs/pg/pgtest"
	"github.com/faultline/faultline/services/api"
	"github.com/faultline/faultline/services/grouping"
	"github.com/faultline/faultline/services/web"
	"github.com/faultline/faultline/streams"
)

// env is the dashboard and the REST API over a fresh database, fed by a
// real grouping service consuming an embedded JetStream.
type env struct {
	t     testing.TB
	db    *pgtest.DB
	store *accounts.Store
	nc    *natsx.Conn
	srv   *httptest.Server
	dash  *web.Web
	logs  *logBuffer // the dashboard's and the API's log, JSON, from level Debug
}

// logBuffer holds a log the server's goroutines write while the test reads.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const password = "correct horse battery"

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t}
	ns := natstest.Start(t)
	e.nc = ns.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := streams.Apply(ctx, e.nc.JS, streams.IngestOptions{MaxAge: time.Hour, MaxBytes: -1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	e.db = pgtest.NewT(t, accounts.Migrations, grouping.Migrations)
	log := slog.New(slog.DiscardHandler)
	e.logs = &logBuffer{}
	httpLog := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	gctx, gcancel := context.WithCancel(context.Background())
	g, err := grouping.New(gctx, e.db.Pool, e.nc, grouping.DefaultOptions(), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := g.Run(gctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { gcancel(); <-done })

	var h http.Handler = http.NotFoundHandler()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	rest, err := api.New(api.Options{PublicURL: e.srv.URL}, httpLog)
	if err != nil {
		t.Fatal(err)
	}
	e.store = accounts.NewStore(e.db.Pool, e.srv.URL)
	e.store.SetDecisions(decide.New(e.nc.NC, e.nc.JS, 10*time.Second))
	rest.SetStore(e.store)
	// The dashboard has accounts of its own, as the web role does in serve.
	acc, err := accounts.New(accounts.Options{PublicURL: e.srv.URL}, log)
	if err != nil {
		t.Fatal(err)
	}
	dash, err := web.New(web.Options{PublicURL: e.srv.URL}, acc, httpLog)
	if err != nil {
		t.Fatal(err)
	}
	dash.SetBackend(e.store, e.db.Pool)
	e.dash = dash
	r := chi.NewRouter()
	rest.Mount(r)
	dash.Mount(r)
	h = r
	return e
}

func (e *env) user(email string, superuser bool) *accounts.User {
	e.t.Helper()
	u, err := e.store.CreateUser(context.Background(), accounts.NewUser{Email: email, Password: password, Superuser: superuser})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// project creates org/name and makes each of members a member with the
// given role.
func (e *env) project(org, name string, members map[*accounts.User]string) *accounts.Project {
	e.t.Helper()
	ctx := context.Background()
	p, err := e.store.CreateProject(ctx, org, name)
	if err != nil {
		e.t.Fatal(err)
	}
	o, _, err := e.store.OrgRole(ctx, org, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	for u, role := range members {
		if err := e.store.AddMember(ctx, o.ID, u.ID, role); err != nil {
			e.t.Fatal(err)
		}
	}
	return p
}

func newEventID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// send publishes events (Sentry event payloads) to the INGEST stream as the
// gateway does, and returns their ids.
func (e *env) send(projectID int64, events ...map[string]any) []string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ids []string
	for _, ev := range events {
		id := newEventID()
		ev["event_id"] = id
		if _, ok := ev["timestamp"]; !ok {
			ev["timestamp"] = float64(time.Now().UnixMilli()) / 1000
		}
		payload, _ := json.Marshal(ev)
		body := fmt.Appendf(nil, "{\"event_id\":%q}\n{\"type\":\"event\",\"length\":%d}\n%s\n", id, len(payload), payload)
		h := nats.Header{}
		h.Set(streams.HeaderProject, strconv.FormatInt(projectID, 10))
		h.Set(streams.HeaderKey, strings.Repeat("a", 32))
		h.Set(streams.HeaderReceived, time.Now().UTC().Format(time.RFC3339Nano))
		h.Set(streams.HeaderEndpoint, "envelope")
		h.Set(streams.HeaderClientIP, "192.0.2.7")
		h.Set(streams.HeaderUserAgent, "sentry.go/0.30.0")
		h.Set(streams.HeaderEventID, id)
		h.Set(jetstream.MsgIDHeader, id)
		if _, err := e.nc.JS.PublishMsg(ctx, &nats.Msg{Subject: streams.IngestSubject(projectID, "error"), Header: h, Data: body}); err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// waitEvents waits until the grouping service stored n events of the
// project and returns its issues' ids by title.
func (e *env) waitEvents(projectID int64, n int) map[string]int64 {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var got int
		if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM grouping.events WHERE project_id = $1`, projectID).Scan(&got); err != nil {
			e.t.Fatal(err)
		}
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("grouping stored %d of %d events of project %d", got, n, projectID)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rows, err := e.db.Pool.Query(context.Background(), `SELECT title, id FROM grouping.issues WHERE project_id = $1`, projectID)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var title string
		var id int64
		if err := rows.Scan(&title, &id); err != nil {
			e.t.Fatal(err)
		}
		out[title] = id
	}
	return out
}

func (e *env) issueStatus(id int64) string {
	e.t.Helper()
	var st string
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT status FROM grouping.issues WHERE id = $1`, id).Scan(&st); err != nil {
		e.t.Fatal(err)
	}
	return st
}

// browser is a person with a cookie jar that does not follow redirects.
type browser struct {
	e      *env
	c      *http.Client
	origin string
}

func (e *env) anonymous() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, origin: e.srv.URL, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// signIn signs in through the sign-in form.
func (e *env) signIn(email string) *browser {
	e.t.Helper()
	b := e.anonymous()
	res := b.submit("/auth/login/", "/auth/login/", url.Values{"email": {email}, "password": {password}, "next": {"/"}})
	if res.status != http.StatusSeeOther {
		e.t.Fatalf("sign in %s: %d\n%s", email, res.status, res.body)
	}
	return b
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values) page {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.srv.URL+path, body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if b.origin != "" {
			req.Header.Set("Origin", b.origin)
		}
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, header: res.Header, body: string(raw)}
}

func (b *browser) get(path string) page { return b.do(http.MethodGet, path, nil) }

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// submit loads the page formPage, takes its CSRF token, and posts form to
// action with it, as a browser submitting the page's form does.
func (b *browser) submit(formPage, action string, form url.Values) page {
	b.e.t.Helper()
	p := b.get(formPage)
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		b.e.t.Fatalf("GET %s: %d, no csrf_token field\n%s", formPage, p.status, p.body)
	}
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf_token", htmlUnescape(m[1]))
	return b.do(http.MethodPost, action, form)
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&#43;", "+", "&#61;", "=", "&amp;", "&").Replace(s)
}
