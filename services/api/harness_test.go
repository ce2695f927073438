package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/libs/decide"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/libs/pg/pgtest"
	alertsvc "github.com/faultline/faultline/services/alerting"
	"github.com/faultline/faultline/services/api"
	groupsvc "github.com/faultline/faultline/services/grouping"
	"github.com/faultline/faultline/streams"
)

// restEnv is a real API over a fresh Postgres database, served by httptest,
// with a real SMTP server catching its mail.
type restEnv struct {
	t     *testing.T
	db    *pgtest.DB
	store *accounts.Store
	api   *api.API
	srv   *httptest.Server
	mail  *smtpCatcher
	nats  *natstest.Server
	nc    *natsx.Conn
	logs  *logBuffer // the API's log, JSON, from level Debug
}

// logBuffer holds a log the server's goroutines write while the test reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

type restOption func(*api.Options)

func newRestEnv(t *testing.T, opts ...restOption) *restEnv {
	t.Helper()
	e := &restEnv{t: t, mail: startSMTP(t)}
	e.db = pgtest.NewT(t, accounts.Migrations, groupsvc.Migrations, alertsvc.Migrations)
	var h http.Handler = http.NotFoundHandler()
	// Every answer the server gives, to any client of the test (sentry-cli
	// among them), is checked against the OpenAPI document.
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &answerRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		e.checkAnswer(r.Method, r.URL.RequestURI(), response{status: rec.statusCode(), header: w.Header(), body: rec.body.Bytes()})
	}))
	t.Cleanup(e.srv.Close)
	host, port, _ := net.SplitHostPort(e.mail.addr)
	p, _ := strconv.Atoi(port)
	opt := api.Options{PublicURL: e.srv.URL,
		SMTP: config.SMTPConfig{Host: host, Port: p, From: "faultline@example.test", TLS: "none"}}
	for _, o := range opts {
		o(&opt)
	}
	var err error
	e.logs = &logBuffer{}
	e.api, err = api.New(opt, slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	e.store = accounts.NewStore(e.db.Pool, e.srv.URL)
	// Decisions (project deletions among them) go to an embedded JetStream;
	// startGrouping runs the replica that applies them.
	e.nats = natstest.Start(t)
	e.nc = e.nats.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := streams.Apply(ctx, e.nc.JS, streams.IngestOptions{MaxAge: time.Hour, MaxBytes: -1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	e.store.SetDecisions(decide.New(e.nc.NC, e.nc.JS, 10*time.Second))
	e.api.SetStore(e.store)
	// Rule changes are commands on ALERTING; startAlerting runs the replica
	// that applies them.
	e.api.SetAlerting(&api.AlertingBus{NC: e.nc.NC, JS: e.nc.JS})
	r := chi.NewRouter()
	e.api.Mount(r)
	h = r
	return e
}

// client is one caller: a bearer token, a browser with a cookie jar, or
// nobody.
type client struct {
	e      *restEnv
	bearer string
	http   *http.Client
	origin string // Origin header on state-changing requests ("" sends none)
	noCSRF bool   // leave out X-CSRFToken
}

func (e *restEnv) anonymous() *client { return &client{e: e, http: &http.Client{}} }

func (e *restEnv) withToken(tok string) *client {
	return &client{e: e, bearer: tok, http: &http.Client{}}
}

// browser signs in through the API and keeps the cookies.
func (e *restEnv) browser(email, password string) *client {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &client{e: e, http: &http.Client{Jar: jar}, origin: e.srv.URL}
	res := c.do("POST", "/api/0/auth/login/", map[string]string{"email": email, "password": password})
	if res.status != 200 {
		e.t.Fatalf("sign in %s: %d %s", email, res.status, res.body)
	}
	return c
}

func (c *client) cookie(name string) string {
	if c.http.Jar == nil {
		return ""
	}
	u, _ := url.Parse(c.e.srv.URL)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r response) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	r.json(t, &m)
	return m
}

func (c *client) do(method, path string, body any) response {
	c.e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	u := path
	if !strings.HasPrefix(u, "http") {
		u = c.e.srv.URL + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if method != "GET" && method != "HEAD" {
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		if tok := c.cookie(accounts.CSRFCookie); tok != "" && !c.noCSRF {
			req.Header.Set(accounts.CSRFHeader, tok)
		}
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// answerRecorder passes an answer on and keeps a copy for the checker.
type answerRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (a *answerRecorder) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
	a.ResponseWriter.WriteHeader(status)
}

func (a *answerRecorder) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	a.body.Write(p)
	return a.ResponseWriter.Write(p)
}

func (a *answerRecorder) statusCode() int {
	if a.status == 0 {
		return http.StatusOK
	}
	return a.status
}

// Unwrap lets http.ResponseController reach the server's writer.
func (a *answerRecorder) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// smtpCatcher is a small real SMTP server: it speaks enough of RFC 5321 for
// net/smtp and hands each message over a channel.
type smtpCatcher struct {
	addr string
	msgs chan *caughtMail
}

type caughtMail struct {
	from string
	to   []string
	msg  *mail.Message
	body string
}

func startSMTP(t *testing.T) *smtpCatcher {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpCatcher{addr: ln.Addr().String(), msgs: make(chan *caughtMail, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(conn)
		}
	}()
	return s
}

func (s *smtpCatcher) serve(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(conn)
	say := func(line string) { io.WriteString(conn, line+"\r\n") }
	say("220 catcher ESMTP")
	m := &caughtMail{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch {
		case verb == "EHLO" || verb == "HELO":
			say("250-catcher")
			say("250 8BITMIME")
		case strings.HasPrefix(strings.ToUpper(line), "MAIL FROM:"):
			m.from = strings.Trim(strings.Fields(line[len("MAIL FROM:"):])[0], "<>")
			say("250 ok")
		case strings.HasPrefix(strings.ToUpper(line), "RCPT TO:"):
			m.to = append(m.to, strings.Trim(strings.Fields(line[len("RCPT TO:"):])[0], "<>"))
			say("250 ok")
		case verb == "DATA":
			say("354 go on")
			var data bytes.Buffer
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			msg, err := mail.ReadMessage(&data)
			if err != nil {
				say("554 bad message")
				continue
			}
			b, _ := io.ReadAll(msg.Body)
			m.msg, m.body = msg, string(b)
			s.msgs <- m
			m = &caughtMail{}
			say("250 queued")
		case verb == "RSET" || verb == "NOOP":
			say("250 ok")
		case verb == "QUIT":
			say("221 bye")
			return
		default:
			say("502 not implemented")
		}
	}
}

// next waits for the next message; mail is sent in the background, so this
// waits for it rather than for a fixed time.
func (s *smtpCatcher) next(t *testing.T) *caughtMail {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no mail arrived")
		return nil
	}
}

// linkToken returns the token of the first link in body under prefix.
func linkToken(t *testing.T, body, prefix string) string {
	t.Helper()
	i := strings.Index(body, prefix)
	if i < 0 {
		t.Fatalf("no link %s in mail:\n%s", prefix, body)
	}
	rest := body[i+len(prefix):]
	end := strings.IndexAny(rest, "/ \r\n")
	if end <= 0 {
		t.Fatalf("malformed link in mail:\n%s", body)
	}
	return rest[:end]
}

// fixture is two organisations: acme with a user per role, a team and a
// project with a key, and other with its own owner and project.
type fixture struct {
	users     map[string]*accounts.User // by role, and "other"
	password  string
	acme      *accounts.Organization
	other     *accounts.Organization
	team      *accounts.Team
	project   *accounts.OrgProject
	key       *accounts.ProjectKey
	otherProj *accounts.OrgProject
	members   map[string]int64 // acme member id by role
}

func (e *restEnv) fixture() *fixture {
	t, ctx := e.t, context.Background()
	t.Helper()
	f := &fixture{users: map[string]*accounts.User{}, members: map[string]int64{}, password: "correct horse battery"}
	for _, who := range append(append([]string{}, accounts.Roles...), "other") {
		u, err := e.store.CreateUser(ctx, accounts.NewUser{Email: who + "@example.test", Name: strings.ToUpper(who[:1]) + who[1:], Password: f.password})
		if err != nil {
			t.Fatal(err)
		}
		f.users[who] = u
	}
	var err error
	if f.acme, err = e.store.CreateOrganization(ctx, f.users["owner"].ID, "Acme Corp", "acme"); err != nil {
		t.Fatal(err)
	}
	if f.other, err = e.store.CreateOrganization(ctx, f.users["other"].ID, "Rival Inc", "rival"); err != nil {
		t.Fatal(err)
	}
	for _, role := range accounts.Roles[1:] {
		if err := e.store.AddMember(ctx, f.acme.ID, f.users[role].ID, role); err != nil {
			t.Fatal(err)
		}
	}
	for _, role := range accounts.Roles {
		m, err := e.store.Member(ctx, f.acme.ID, "me", f.users[role].ID)
		if err != nil {
			t.Fatal(err)
		}
		f.members[role] = m.ID
	}
	if f.team, err = e.store.CreateTeam(ctx, f.acme.ID, "Backend", ""); err != nil {
		t.Fatal(err)
	}
	if f.project, err = e.store.CreateTeamProject(ctx, f.team, "Web Shop", "web", "go"); err != nil {
		t.Fatal(err)
	}
	keys, err := e.store.Keys(ctx, f.project.ID, nil, 10, 0)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys of new project: %v %v", keys, err)
	}
	f.key = keys[0]
	otherTeam, err := e.store.CreateTeam(ctx, f.other.ID, "Secret Team", "")
	if err != nil {
		t.Fatal(err)
	}
	if f.otherProj, err = e.store.CreateTeamProject(ctx, otherTeam, "Secret Project", "secret", ""); err != nil {
		t.Fatal(err)
	}
	return f
}

// token creates an API token for the user with the given scopes.
func (e *restEnv) token(u *accounts.User, scopes ...string) (string, *accounts.Token) {
	e.t.Helper()
	t, tok, err := e.store.CreateToken(context.Background(), accounts.NewToken{UserID: u.ID, Scopes: scopes})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok, t
}

// session signs the user in without the sign-in route (which is rate
// limited per address): a session made by the store, cookies in a jar.
func (e *restEnv) session(u *accounts.User) *client {
	e.t.Helper()
	tok, err := e.store.CreateSession(context.Background(), u.ID, "test", "127.0.0.1")
	if err != nil {
		e.t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	su, _ := url.Parse(e.srv.URL)
	jar.SetCookies(su, []*http.Cookie{
		{Name: accounts.SessionCookie, Value: tok, Path: "/"},
		{Name: accounts.CSRFCookie, Value: e.api.Accounts().Auth().CSRFToken(tok), Path: "/"},
	})
	return &client{e: e, http: &http.Client{Jar: jar}, origin: e.srv.URL}
}
