package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/go-chi/chi/v5"
	"golang.org/x/net/html"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/clickhouse"
	"github.com/faultline/faultline/libs/clickhouse/chtest"
	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/services/analytics"
	"github.com/faultline/faultline/services/gateway"
	"github.com/faultline/faultline/streams"
)

// The test binary's ClickHouse server stops with it.
func TestMain(m *testing.M) { chtest.Main(m) }

// analyticsEnv is e with the rest of the pipeline an SDK's transactions go
// through: a real gateway (keys synced from Postgres as the api does), the
// analytics role writing a fresh ClickHouse database, and the dashboard
// reading it.
type analyticsEnv struct {
	*env
	gatewayURL string
	svc        *analytics.Service
	ch         clickhouse.Conn
}

func (e *env) withAnalytics() *analyticsEnv {
	t := e.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)
	gatewayURL := e.startGateway()

	u := chtest.NewDatabaseT(t)
	open := func() clickhouse.Conn {
		c, err := clickhouse.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	opt := analytics.DefaultOptions()
	opt.BatchSize, opt.FlushInterval = 100, 50*time.Millisecond
	svc, err := analytics.New(ctx, open(), e.nc, opt, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	adone := make(chan error, 1)
	go func() { adone <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-adone; err != nil {
			t.Errorf("analytics: %v", err)
		}
	})
	conn := open()
	// The role creates its tables when it starts.
	for deadline := time.Now().Add(30 * time.Second); ; {
		var n uint64
		err := conn.QueryRow(ctx, `SELECT count() FROM transactions`).Scan(&n)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the analytics role created no tables in 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.dash.SetAnalytics(conn)
	return &analyticsEnv{env: e, gatewayURL: gatewayURL, svc: svc, ch: conn}
}

// startGateway starts a real gateway on e's JetStream and returns its URL.
// It knows the keys of the projects created so far, as the api's key sync
// writes them; syncKeys brings it later changes.
func (e *env) startGateway() string {
	t := e.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e.syncKeys()
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(ctx, gateway.OptionsFrom(cfg), e.nc, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	gdone := make(chan error, 1)
	go func() { gdone <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-gdone; err != nil {
			t.Errorf("gateway: %v", err)
		}
	})
	select {
	case <-g.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("gateway not ready after 20s")
	}
	r := chi.NewRouter()
	g.Mount(r)
	gs := httptest.NewServer(r)
	t.Cleanup(gs.Close)
	return gs.URL
}

// syncKeys writes the projects' keys to the gateway's bucket, as the api's
// key sync does.
func (e *env) syncKeys() {
	e.t.Helper()
	kv, err := e.nc.JS.KeyValue(context.Background(), streams.KeysBucket)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := accounts.NewKeySync(e.store, kv, slog.New(slog.DiscardHandler)).Reconcile(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// hub is a sentry-go hub sending to p's DSN on the gateway, tracing every
// transaction.
func (a *analyticsEnv) hub(p *accounts.Project, release string) (*sentry.Hub, context.Context) {
	t := a.t
	t.Helper()
	gu, _ := url.Parse(a.gatewayURL)
	dsn := fmt.Sprintf("http://%s@%s/%d", p.Keys[0].PublicKey, gu.Host, p.ID)
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: dsn, Release: release, Environment: "prod",
		EnableTracing: true, TracesSampleRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	hub := sentry.NewHub(client, sentry.NewScope())
	return hub, sentry.SetHubOnContext(context.Background(), hub)
}

// flush waits until hub's client sent everything.
func flush(t *testing.T, hubs ...*sentry.Hub) {
	t.Helper()
	for _, h := range hubs {
		if !h.Client().Flush(20 * time.Second) {
			t.Fatal("sentry-go did not flush")
		}
	}
}

// transaction sends one transaction named name that ran from start for d,
// with status (ok when ""), and returns it.
func transaction(ctx context.Context, name string, start time.Time, d time.Duration, status sentry.SpanStatus, opts ...sentry.SpanOption) *sentry.Span {
	tx := sentry.StartTransaction(ctx, name, append([]sentry.SpanOption{sentry.WithOpName("http.server")}, opts...)...)
	tx.StartTime = start
	tx.EndTime = start.Add(d)
	tx.Status = sentry.SpanStatusOK
	if status != 0 {
		tx.Status = status
	}
	return tx
}

// waitAnalytics waits until the analytics role has nothing left to write
// and ClickHouse holds at least txs transactions and errs errors.
func (a *analyticsEnv) waitAnalytics(txs, errs uint64) {
	t := a.t
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var gotTx, gotErr uint64
		l, err := a.svc.Lag(context.Background())
		if err == nil {
			err = a.ch.QueryRow(context.Background(), `SELECT count() FROM transactions FINAL`).Scan(&gotTx)
		}
		if err == nil {
			err = a.ch.QueryRow(context.Background(), `SELECT count() FROM errors FINAL`).Scan(&gotErr)
		}
		if err == nil && l.Total() == 0 && gotTx >= txs && gotErr >= errs {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("analytics after 90s: lag %+v, %d of %d transactions, %d of %d errors (%v)", l, gotTx, txs, gotErr, errs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tableRows reads the text of each body row's cells of the table with id,
// whitespace collapsed.
func tableRows(t *testing.T, page, id string) [][]string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	table := find(doc, func(n *html.Node) bool { return n.Data == "table" && attr(n, "id") == id })
	if table == nil {
		t.Fatalf("no table #%s in\n%s", id, page)
	}
	var rows [][]string
	tbody := find(table, func(n *html.Node) bool { return n.Data == "tbody" })
	for tr := tbody.FirstChild; tr != nil; tr = tr.NextSibling {
		if tr.Type != html.ElementNode || tr.Data != "tr" {
			continue
		}
		var cells []string
		for td := tr.FirstChild; td != nil; td = td.NextSibling {
			if td.Type == html.ElementNode && td.Data == "td" {
				cells = append(cells, strings.Join(strings.Fields(text(td)), " "))
			}
		}
		rows = append(rows, cells)
	}
	return rows
}

// stats reads a <dl class="stats"> with id as dt → dd.
func stats(t *testing.T, page, id string) map[string]string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	dl := find(doc, func(n *html.Node) bool { return n.Data == "dl" && attr(n, "id") == id })
	if dl == nil {
		t.Fatalf("no #%s in\n%s", id, page)
	}
	out := map[string]string{}
	var key string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "dt":
				key = strings.TrimSpace(text(n))
			case "dd":
				out[key] = strings.Join(strings.Fields(text(n)), " ")
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(dl)
	return out
}

func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	if n.Type == html.ElementNode && match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, match); f != nil {
			return f
		}
	}
	return nil
}
