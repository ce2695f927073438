// Package harness runs the real faultline binary for end-to-end tests: it
// builds it once per test binary, gives each server a fresh Postgres database,
// a temporary data directory and free loopback ports, creates projects with
// the CLI, and reads what the gateway stored back from the INGEST stream over
// the embedded NATS server's network listener.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/pg/pgtest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns the faultline binary: FAULTLINE_BIN when set (make test-e2e
// builds bin/faultline first), otherwise one built from this checkout into a
// temporary directory, once per test binary.
func Binary() (string, error) {
	buildOnce.Do(func() {
		if p := os.Getenv("FAULTLINE_BIN"); p != "" {
			binPath, buildErr = filepath.Abs(p)
			if buildErr == nil {
				_, buildErr = os.Stat(binPath)
			}
			return
		}
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			buildErr = errors.New("harness: cannot locate the repository")
			return
		}
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "faultline-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "faultline")
		cmd := exec.Command("go", "build", "-o", binPath, "./services/faultline")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("harness: go build ./services/faultline: %v\n%s", err, out)
		}
	})
	return binPath, buildErr
}

// Options configure a server.
type Options struct {
	// Env adds or overrides environment variables of faultline serve, such
	// as MAX_EVENTS_PER_PROJECT_PER_MINUTE.
	Env map[string]string
	// NATSURL, when set, is a NATS server of the test's own that faultline
	// uses instead of an embedded one: it outlives a killed faultline.
	NATSURL string
}

// Server is a running faultline serve.
type Server struct {
	URL     string // http://127.0.0.1:<port>
	NATSURL string // nats://127.0.0.1:<port>, the embedded server's listener
	// MetricsURL is http://127.0.0.1:<port> of METRICS_LISTEN (/metrics).
	MetricsURL string
	LogPath    string // its stderr and stdout

	bin     string
	env     []string
	db      *pgtest.DB
	dataDir string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	nc      *nats.Conn
	js      jetstream.JetStream
}

// Project is a project created with `faultline project create`.
type Project struct {
	ID        int64
	DSN       string
	PublicKey string
}

// Start creates a database, starts faultline serve and waits until it is
// ready. Stop it with Stop.
func Start(ctx context.Context, opt Options) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dataDir, err := os.MkdirTemp("", "faultline-e2e-data-")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dataDir: dataDir, exited: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			s.cleanup()
		}
	}()
	b := make([]byte, 6)
	rand.Read(b)
	s.db = &pgtest.DB{Name: "faultline_e2e_" + hex.EncodeToString(b)}
	u, err := url.Parse(pgtest.ServerURL())
	if err != nil {
		return nil, err
	}
	u.Path = "/" + s.db.Name
	s.db.URL = u.String()

	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	httpPort, natsPort := ports[0], ports[1]
	s.MetricsURL = "http://127.0.0.1:" + strconv.Itoa(ports[2])
	s.URL = "http://127.0.0.1:" + strconv.Itoa(httpPort)
	s.NATSURL = "nats://127.0.0.1:" + strconv.Itoa(natsPort)
	natsListen := "127.0.0.1:" + strconv.Itoa(natsPort)
	if opt.NATSURL != "" {
		s.NATSURL, natsListen = opt.NATSURL, ""
	}
	vars := map[string]string{
		"DATABASE_URL":   s.db.URL,
		"HOST":           "127.0.0.1",
		"PORT":           strconv.Itoa(httpPort),
		"PUBLIC_URL":     s.URL,
		"DATA_DIR":       dataDir,
		"NATS_LISTEN":    natsListen,
		"NATS_URL":       opt.NATSURL,
		"LOG_LEVEL":      "debug",
		"METRICS_LISTEN": "127.0.0.1:" + strconv.Itoa(ports[2]),
	}
	for k, v := range opt.Env {
		vars[k] = v
	}
	s.env = os.Environ()
	for k, v := range vars {
		s.env = append(s.env, k+"="+v)
	}

	// Migrations run (and the database is created) before serve starts.
	if out, err := s.run(ctx, "migrate"); err != nil {
		return nil, fmt.Errorf("faultline migrate: %w\n%s", err, out)
	}

	s.LogPath = filepath.Join(dataDir, "faultline.log")
	if err := s.serve(ctx); err != nil {
		return nil, err
	}
	s.nc, err = nats.Connect(s.NATSURL, nats.Name("faultline e2e"))
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats: %w", err)
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// serve starts faultline serve, its output appended to the log, and waits
// until it is ready.
func (s *Server) serve(ctx context.Context) error {
	logFile, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	s.cmd = exec.Command(s.bin, "serve")
	s.cmd.Env = s.env
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start faultline serve: %w", err)
	}
	cmd, exited := s.cmd, make(chan struct{})
	s.exited = exited
	go func() {
		s.waitErr = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		return fmt.Errorf("%w\n%s", err, s.Logs())
	}
	return nil
}

// Kill kills faultline serve with SIGKILL, as a crash or the OOM killer
// would, and waits until it is gone. Restart starts it again.
func (s *Server) Kill() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return errors.New("faultline serve is not running")
	}
	if err := s.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("kill faultline serve: %w", err)
	}
	<-s.exited
	s.cmd = nil
	return nil
}

// Terminate stops faultline serve gracefully (SIGTERM) and waits for it to
// exit, keeping its database and data for Restart; it is an error unless it
// exits with status 0 within a minute.
func (s *Server) Terminate() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return errors.New("faultline serve is not running")
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(time.Minute):
		s.cmd.Process.Kill()
		<-s.exited
		s.cmd = nil
		return errors.New("faultline serve still running a minute after SIGTERM; killed")
	}
	s.cmd = nil
	if s.waitErr != nil {
		return fmt.Errorf("faultline serve did not exit cleanly after SIGTERM: %v", s.waitErr)
	}
	return nil
}

// Restart starts faultline serve again after Kill or Terminate, with the same database,
// data directory, ports and environment, and waits until it is ready.
func (s *Server) Restart(ctx context.Context) error {
	if s.cmd != nil {
		return errors.New("faultline serve is still running")
	}
	return s.serve(ctx)
}

// DatabaseURL is the server's Postgres database.
func (s *Server) DatabaseURL() string { return s.db.URL }

// StartT starts a server for one test and stops it when the test ends,
// failing the test unless it exits cleanly; the server's log is printed when
// the test failed.
func StartT(t testing.TB, opt Options) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, opt)
	if err != nil {
		t.Fatalf("start faultline: %v", err)
	}
	t.Cleanup(func() {
		err := s.Stop()
		if err != nil {
			t.Errorf("stop faultline: %v", err)
		}
		if t.Failed() {
			t.Logf("faultline log (%s):\n%s", s.LogPath, s.Logs())
		}
		s.Remove()
	})
	return s
}

// Main runs a test binary's tests against one server shared by them all:
// call it from TestMain and os.Exit with its result. The server's log is
// printed when a test failed or it did not stop cleanly.
func Main(m *testing.M, opt Options, srv **Server) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	s, err := Start(ctx, opt)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start faultline:", err)
		return 1
	}
	*srv = s
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop faultline:", err)
		code = 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "faultline log (%s):\n%s\n", s.LogPath, s.Logs())
	}
	s.Remove()
	return code
}

// Run runs a faultline subcommand (user create, token create, …) with the
// server's environment and returns its combined output.
func (s *Server) Run(ctx context.Context, args ...string) ([]byte, error) { return s.run(ctx, args...) }

func (s *Server) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = s.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

func (s *Server) waitReady(ctx context.Context) error {
	var last string
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("faultline serve exited before it was ready: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("faultline serve not ready: %s", last)
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(s.URL + "/readyz")
		if err != nil {
			last = err.Error()
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = resp.Status + ": " + string(body)
	}
}

// CreateProject runs `faultline project create --org e2e NAME-<random>`,
// parses the DSN from its last line, and waits until the gateway knows the
// new key. The suffix keeps projects apart when tests run again (-count) on
// the same server.
func (s *Server) CreateProject(ctx context.Context, name string) (Project, error) {
	b := make([]byte, 3)
	rand.Read(b)
	out, err := s.run(ctx, "project", "create", "--org", "e2e", name+"-"+hex.EncodeToString(b))
	if err != nil {
		return Project{}, fmt.Errorf("faultline project create: %w\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dsn := strings.TrimSpace(lines[len(lines)-1])
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return Project{}, fmt.Errorf("project create printed %q last, not a DSN", dsn)
	}
	p := Project{DSN: dsn, PublicKey: u.User.Username()}
	if p.ID, err = strconv.ParseInt(strings.Trim(u.Path, "/"), 10, 64); err != nil {
		return Project{}, fmt.Errorf("DSN %q: project id: %w", dsn, err)
	}
	if want := strings.TrimPrefix(s.URL, "http://"); u.Host != want {
		return Project{}, fmt.Errorf("DSN %q: host %q, want PUBLIC_URL's %q", dsn, u.Host, want)
	}
	return p, s.waitKey(ctx, p)
}

// CreateProjectT is CreateProject failing t on error.
func (s *Server) CreateProjectT(t testing.TB, name string) Project {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := s.CreateProject(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitKey waits until the gateway authenticates p's key: a body that is no
// envelope is answered 400 (key known, body refused, nothing stored) rather
// than 401 (unknown key).
func (s *Server) waitKey(ctx context.Context, p Project) error {
	endpoint := fmt.Sprintf("%s/api/%d/envelope/", s.URL, p.ID)
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader("not an envelope"))
		if err != nil {
			return err
		}
		req.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_key="+p.PublicKey)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusBadRequest {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gateway does not know key of project %d: last answer %s", p.ID, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop sends SIGTERM and waits for the process; it is an error unless it
// exits with status 0 within a minute. The database is dropped.
func (s *Server) Stop() error {
	if s.nc != nil {
		s.nc.Close()
		s.nc = nil
	}
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		select {
		case <-s.exited:
			err = fmt.Errorf("faultline serve had already exited: %v", s.waitErr)
		default:
			s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.exited:
				if s.waitErr != nil {
					err = fmt.Errorf("faultline serve did not exit cleanly after SIGTERM: %v", s.waitErr)
				}
			case <-time.After(time.Minute):
				s.cmd.Process.Kill()
				<-s.exited
				err = errors.New("faultline serve still running a minute after SIGTERM; killed")
			}
		}
		s.cmd = nil
	}
	if s.db != nil {
		s.db.Drop()
		s.db = nil
	}
	return err
}

// Remove deletes the server's data directory and log; call it after Stop
// (and after printing the log).
func (s *Server) Remove() { os.RemoveAll(s.dataDir) }

func (s *Server) cleanup() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.exited
		s.cmd = nil
	}
	s.Stop()
	s.Remove()
}

// Logs returns the server's log so far.
func (s *Server) Logs() string {
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return string(b)
}

// LogLines returns the server's JSON log lines that contain every one of
// the given substrings.
func (s *Server) LogLines(substrings ...string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s.Logs()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
next:
	for sc.Scan() {
		for _, sub := range substrings {
			if !strings.Contains(sc.Text(), sub) {
				continue next
			}
		}
		out = append(out, sc.Text())
	}
	return out
}

// Metric returns the value of the Prometheus sample with the given name and
// labels (as written, e.g. `reason="rate_limited"`), or 0 when absent.
func (s *Server) Metric(name string, labels ...string) (float64, error) {
	resp, err := http.Get(s.MetricsURL + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(series, l) {
				continue next
			}
		}
		return strconv.ParseFloat(strings.TrimSpace(value), 64)
	}
	return 0, sc.Err()
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// OwnerToken makes a user who owns organisation e2e, named after name and
// p, and returns an API token of theirs.
func (s *Server) OwnerToken(t testing.TB, p Project, name string) string {
	t.Helper()
	ctx := context.Background()
	email := fmt.Sprintf("%s-%d@example.test", name, p.ID)
	if out, err := s.Run(ctx, "user", "create", "--email", email, "--password", "correct horse battery", "--org", "e2e", "--role", "owner"); err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	out, err := s.Run(ctx, "token", "create", "--user", email)
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
