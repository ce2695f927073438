package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/pg"
	"github.com/faultline/faultline/libs/pg/pgtest"
	"github.com/faultline/faultline/services/faultline/cli"
	"github.com/faultline/faultline/streams"
)

// tcpProxy forwards connections to target. Cut makes it act as a stopped
// server: every connection it carries is cut and new ones are closed at
// once, until Restore.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	down   bool
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.Cut() })
	return p
}

func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go func() { io.Copy(out, in); out.Close() }()
		go func() { io.Copy(in, out); in.Close() }()
	}
}

// Cut stops forwarding.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Restore forwards new connections again.
func (p *tcpProxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(url string) (int, string) {
	res, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func envelopeOf(n int) []byte {
	id := fmt.Sprintf("%032x", 0x5e7e000000+n)
	ev := `{"event_id":"` + id + `","message":"serve test","level":"error"}`
	return []byte(`{"event_id":"` + id + `"}` + "\n" + `{"type":"event","length":` + strconv.Itoa(len(ev)) + "}\n" + ev + "\n")
}

func send(dsnURL string, body io.Reader) (int, error) {
	req, err := http.NewRequest(http.MethodPost, dsnURL, body)
	if err != nil {
		return 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}

// TestServeKeepsIngestingWithoutPostgres runs 'faultline serve' in this
// process against Postgres behind a proxy, creates a project, cuts Postgres
// off, and sends envelopes: every one is answered 200 and is in the stream.
// Cancelling the context then shuts the process down cleanly, finishing a
// request that was in flight.
func TestServeKeepsIngestingWithoutPostgres(t *testing.T) {
	proxy := startProxy(t, "127.0.0.1:5432")
	server, err := url.Parse(pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	dbName := "faultline_test_serve_" + hex.EncodeToString(b)
	t.Cleanup((&pgtest.DB{Name: dbName}).Drop)
	dbURL := *server
	dbURL.Host = proxy.Addr()
	dbURL.Path = "/" + dbName
	if server.Host != "127.0.0.1:5432" && server.Host != "localhost:5432" {
		t.Skipf("the proxy targets 127.0.0.1:5432; TEST_DATABASE_URL names %s", server.Host)
	}

	httpPort, natsPort, metricsPort := freePort(t), freePort(t), freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(httpPort)
	metricsBase := "http://127.0.0.1:" + strconv.Itoa(metricsPort)
	vars := map[string]string{
		"METRICS_LISTEN": "127.0.0.1:" + strconv.Itoa(metricsPort),
		"DATABASE_URL":   dbURL.String(),
		"HOST":           "127.0.0.1",
		"PORT":           strconv.Itoa(httpPort),
		"NATS_LISTEN":    "127.0.0.1:" + strconv.Itoa(natsPort),
		"DATA_DIR":       t.TempDir(),
		"LOG_LEVEL":      "error",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cli.Run(ctx, []string{"serve"}, func(k string) string { return vars[k] }, io.Discard) }()

	eventually(t, "/healthz answers", 30*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v", err)
		default:
		}
		code, _ := get(base + "/healthz")
		return code == http.StatusOK
	})
	eventually(t, "/readyz answers 200", 30*time.Second, func() bool {
		code, _ := get(base + "/readyz")
		return code == http.StatusOK
	})

	// Create the project the way 'faultline project create' does, through
	// the proxy; serve's key sync hears of it over NOTIFY.
	pool, err := pg.Open(context.Background(), dbURL.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pg.Migrate(context.Background(), pool, accounts.Migrations); err != nil {
		t.Fatal(err)
	}
	p, err := accounts.NewStore(pool, base).CreateProject(context.Background(), "acme", "serve test")
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()
	ingestURL := fmt.Sprintf("%s/api/%d/envelope/?sentry_key=%s", base, p.ID, p.Keys[0].PublicKey)
	warmup := 0
	eventually(t, "the new key is accepted", 20*time.Second, func() bool {
		warmup++
		code, err := send(ingestURL, bytes.NewReader(envelopeOf(-warmup)))
		return err == nil && code == http.StatusOK
	})

	nc, err := natsx.Connect(vars["NATS_LISTEN"], nil, t.Name(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.NC.Close()
	stream, err := nc.JS.Stream(context.Background(), streams.Ingest)
	if err != nil {
		t.Fatal(err)
	}
	stored := func() uint64 {
		t.Helper()
		info, err := stream.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	before := stored()

	// Postgres goes away.
	proxy.Cut()
	if pool, err := pg.Open(context.Background(), dbURL.String()); err == nil {
		pool.Close()
		t.Fatal("Postgres is still reachable through the proxy")
	}
	const n = 50
	for i := range n {
		code, err := send(ingestURL, bytes.NewReader(envelopeOf(i)))
		if err != nil || code != http.StatusOK {
			t.Fatalf("envelope %d with Postgres down: %d, %v; want 200", i, code, err)
		}
	}
	if got := stored() - before; got != n {
		t.Errorf("%d envelopes stored while Postgres was down, want %d", got, n)
	}
	if code, body := get(base + "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz with Postgres down: %d %s; ingestion does not need Postgres", code, body)
	}
	// A project created while faultline could not see Postgres reaches the
	// gateway once Postgres is back.
	direct := *server
	direct.Path = "/" + dbName
	pool, err = pg.Open(context.Background(), direct.String())
	if err != nil {
		t.Fatal(err)
	}
	p2, err := accounts.NewStore(pool, base).CreateProject(context.Background(), "acme", "made while away")
	pool.Close()
	if err != nil {
		t.Fatal(err)
	}
	url2 := fmt.Sprintf("%s/api/%d/envelope/?sentry_key=%s", base, p2.ID, p2.Keys[0].PublicKey)
	if code, _ := send(url2, bytes.NewReader(envelopeOf(500))); code != http.StatusUnauthorized {
		t.Errorf("key unknown to faultline answered %d, want 401", code)
	}
	proxy.Restore()
	eventually(t, "key created while Postgres was away is accepted", 30*time.Second, func() bool {
		code, err := send(url2, bytes.NewReader(envelopeOf(501)))
		return err == nil && code == http.StatusOK
	})

	if code, body := get(metricsBase + "/metrics"); code != http.StatusOK || !bytes.Contains([]byte(body), []byte("faultline_gateway_envelopes_accepted_total")) {
		t.Errorf("/metrics on METRICS_LISTEN: %d, no accepted counter", code)
	}
	if code, _ := get(base + "/metrics"); code == http.StatusOK {
		t.Error("/metrics answered on the public listener")
	}
	if code, body := get(base + "/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Errorf("public /readyz: %d %q, want 200 \"ready\" and nothing more", code, body)
	}
	if code, body := get(metricsBase + "/readyz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("detailed /readyz: %d %q", code, body)
	}

	// Outcomes: every refused request of a known key is counted on
	// OUTCOMES, including one refused while the listener drains, after the
	// gateway's own last flush at the signal.
	sub, err := natsx.Connect(vars["NATS_LISTEN"], nil, t.Name()+" outcomes", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.NC.Close()
	var invalidMu sync.Mutex
	invalid := uint64(0)
	if _, err := sub.NC.Subscribe(streams.OutcomesSubject, func(m *nats.Msg) {
		b, err := streams.DecodeOutcomes(m.Data)
		if err != nil {
			t.Errorf("outcomes: %v", err)
			return
		}
		invalidMu.Lock()
		defer invalidMu.Unlock()
		for _, o := range b.Outcomes {
			if o.ProjectID == p.ID && o.Outcome == streams.OutcomeInvalid {
				invalid += o.Quantity
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	sub.NC.Flush()
	bad := []byte(`{}` + "\n" + `{"type":"event","length":500}` + "\n{}\n")
	if code, err := send(ingestURL, bytes.NewReader(bad)); err != nil || code != http.StatusBadRequest {
		t.Fatalf("envelope shorter than its item: %d, %v; want 400", code, err)
	}

	// Graceful shutdown: a request in flight when the signal comes is
	// finished and stored, then Run returns nil. Each request asks for
	// 100-continue, so its body starts only once the handler reads it: the
	// first write below returns when the request is surely in the handler
	// (not merely in the listener's backlog, which a shutdown drops).
	own := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, ExpectContinueTimeout: time.Minute}}
	inFlight := func(first []byte) (*io.PipeWriter, chan int) {
		pr, pw := io.Pipe()
		code := make(chan int, 1)
		go func() {
			req, err := http.NewRequest(http.MethodPost, ingestURL, pr)
			if err != nil {
				t.Error(err)
				code <- 0
				return
			}
			req.Header.Set("Expect", "100-continue")
			res, err := own.Do(req)
			if err != nil {
				t.Errorf("in-flight request: %v", err)
				code <- 0
				return
			}
			res.Body.Close()
			code <- res.StatusCode
		}()
		if _, err := pw.Write(first); err != nil {
			t.Fatal(err)
		}
		return pw, code
	}
	body := envelopeOf(1000)
	pw, slow := inFlight(body[:20])
	badw, slowBad := inFlight(bad[:2])
	nc.NC.Close()
	cancel()
	// The gateway flushes its outcomes at once when the signal comes; the
	// refused request below finishes after that.
	time.Sleep(500 * time.Millisecond)
	pw.Write(body[20:])
	pw.Close()
	badw.Write(bad[2:])
	badw.Close()
	if code := <-slowBad; code != http.StatusBadRequest {
		t.Errorf("refused request in flight at shutdown: %d, want 400", code)
	}
	if code := <-slow; code != http.StatusOK { // 200: JetStream acknowledged it
		t.Errorf("request in flight at shutdown: %d, want 200", code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after its context ended, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve still running 30s after its context ended")
	}
	eventually(t, "both refused requests counted on OUTCOMES", 5*time.Second, func() bool {
		invalidMu.Lock()
		defer invalidMu.Unlock()
		return invalid == 2
	})
}
