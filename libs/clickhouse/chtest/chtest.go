// Package chtest runs a real ClickHouse server for tests: one server per
// test binary, started on first use as the clickhouse user (when the tests
// run as root) on free loopback ports with a generated configuration in a
// temporary directory, and a database of its own for each test package.
//
// The server binary is CLICKHOUSE_SERVER, or clickhouse-server (Debian's
// package, scripts/deps.sh installs it), or "clickhouse server". An
// external server can be used instead with TEST_CLICKHOUSE_URL
// (clickhouse://host:9000). Without a server the tests fail; they skip only
// when FAULTLINE_NO_CLICKHOUSE=1 asks for it.
//
// A test package's TestMain calls Main so the server stops when the
// binary ends:
//
//	func TestMain(m *testing.M) { chtest.Main(m) }
package chtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/clickhouse"
)

// Server is a ClickHouse server started for the tests.
type Server struct {
	dir      string
	bin      []string
	tcpPort  int
	httpPort int
	cred     *syscall.Credential
	external string // TEST_CLICKHOUSE_URL

	mu  sync.Mutex
	cmd *exec.Cmd
}

var (
	once      sync.Once
	shared    *Server
	sharedErr error
	dbOnce    sync.Once
	dbURL     string
	dbErr     error
)

// Main runs the package's tests and then stops the server and removes its
// files.
func Main(m *testing.M) {
	code := m.Run()
	Close()
	os.Exit(code)
}

// Close stops the binary's server, if one was started, and removes its
// files: for a TestMain that runs its tests otherwise than with Main.
func Close() {
	if shared != nil {
		if shared.external != "" && dbURL != "" {
			dropDatabase(dbURL) // a local server's databases go with its directory
		}
		shared.close()
	}
}

// Get returns the binary's server, starting it on first use. It skips the
// test only when FAULTLINE_NO_CLICKHOUSE=1.
func Get(t testing.TB) *Server {
	t.Helper()
	if os.Getenv("FAULTLINE_NO_CLICKHOUSE") == "1" {
		t.Skip("FAULTLINE_NO_CLICKHOUSE=1: ClickHouse tests skipped")
	}
	if _, err := Shared(); err != nil {
		t.Fatalf("chtest: no ClickHouse server: %v\n(install it with scripts/deps.sh, point TEST_CLICKHOUSE_URL at one, or set FAULTLINE_NO_CLICKHOUSE=1 to skip)", err)
	}
	return shared
}

// Shared returns the binary's server, starting it on first use, for
// programs that are not tests (the load generator); Close stops it.
func Shared() (*Server, error) {
	once.Do(func() { shared, sharedErr = start() })
	return shared, sharedErr
}

// URL is the DSN of the test package's database, created on first use.
func URL(t testing.TB) string {
	t.Helper()
	s := Get(t)
	dbOnce.Do(func() { dbURL, dbErr = s.NewDatabase() })
	if dbErr != nil {
		t.Fatal(dbErr)
	}
	return dbURL
}

// NewDatabaseT is a fresh database for one test, dropped when it ends.
func NewDatabaseT(t testing.TB) string {
	t.Helper()
	u, err := Get(t).NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDatabase(u) })
	return u
}

// NewDatabase creates a database with a random name and returns its DSN.
func (s *Server) NewDatabase() (string, error) {
	b := make([]byte, 6)
	rand.Read(b)
	u := s.dsn("faultline_test_" + hex.EncodeToString(b))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := clickhouse.Open(ctx, u)
	if err != nil {
		return "", err
	}
	c.Close()
	return u, nil
}

func (s *Server) dsn(db string) string {
	if s.external != "" {
		o, _ := clickhouse.ParseURL(s.external)
		return fmt.Sprintf("clickhouse://%s/%s?dial_timeout=5s", o.Addr[0], db)
	}
	return fmt.Sprintf("clickhouse://127.0.0.1:%d/%s?dial_timeout=5s", s.tcpPort, db)
}

func dropDatabase(u string) {
	o, err := clickhouse.ParseURL(u)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := clickhouse.Open(ctx, fmt.Sprintf("clickhouse://%s/default", o.Addr[0]))
	if err != nil {
		fmt.Fprintln(os.Stderr, "chtest: drop:", err)
		return
	}
	defer c.Close()
	if err := c.Exec(ctx, "DROP DATABASE IF EXISTS `"+o.Auth.Database+"`"); err != nil {
		fmt.Fprintln(os.Stderr, "chtest: drop:", err)
	}
}

func start() (*Server, error) {
	if u := os.Getenv("TEST_CLICKHOUSE_URL"); u != "" {
		if _, err := clickhouse.ParseURL(u); err != nil {
			return nil, err
		}
		return &Server{external: u}, nil
	}
	bin, err := findBinary()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("clickhouse")
		if err != nil {
			return nil, fmt.Errorf("running as root and there is no clickhouse user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if s.dir, err = os.MkdirTemp("", "faultline-clickhouse-"); err != nil {
		return nil, err
	}
	if err := s.prepareDir(); err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}
	var lastErr error
	for range 3 { // a port taken between choosing and binding: try others
		if s.tcpPort, err = freePort(); err != nil {
			return nil, err
		}
		if s.httpPort, err = freePort(); err != nil {
			return nil, err
		}
		if err := s.writeConfig(); err != nil {
			return nil, err
		}
		if lastErr = s.Start(); lastErr == nil {
			return s, nil
		}
	}
	os.RemoveAll(s.dir)
	return nil, lastErr
}

func findBinary() ([]string, error) {
	if b := os.Getenv("CLICKHOUSE_SERVER"); b != "" {
		return []string{b}, nil
	}
	for _, name := range []string{"clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"} {
		if p, err := exec.LookPath(name); err == nil {
			return []string{p}, nil
		}
	}
	if p, err := exec.LookPath("clickhouse"); err == nil {
		return []string{p, "server"}, nil
	}
	return nil, errors.New("clickhouse-server is not installed (apt-get install clickhouse-server)")
}

// prepareDir makes the directory the server's own and checks that it can
// reach it: every parent must be searchable by others.
func (s *Server) prepareDir() error {
	if s.cred == nil {
		return nil
	}
	if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
		return err
	}
	if err := os.Chmod(s.dir, 0o750); err != nil {
		return err
	}
	for p := filepath.Dir(s.dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("the clickhouse user cannot reach %s: %s is not searchable by others (set TMPDIR to a directory it can reach)", s.dir, p)
		}
		if p == "/" {
			return nil
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) writeConfig() error {
	d := s.dir
	config := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>%[1]s/log/server.log</log>
    <errorlog>%[1]s/log/error.log</errorlog>
    <size>10M</size>
    <count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>%[2]d</tcp_port>
  <http_port>%[3]d</http_port>
  <path>%[1]s/data/</path>
  <tmp_path>%[1]s/tmp/</tmp_path>
  <user_files_path>%[1]s/user_files/</user_files_path>
  <format_schema_path>%[1]s/format_schemas/</format_schema_path>
  <users_config>%[1]s/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
`, d, s.tcpPort, s.httpPort)
	users := `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default></default></quotas>
</yandex>
`
	for _, sub := range []string{"log", "data", "tmp", "user_files", "format_schemas"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o750); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(d, "config.xml"), []byte(config), 0o640); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d, "users.xml"), []byte(users), 0o640); err != nil {
		return err
	}
	if s.cred == nil {
		return nil
	}
	return filepath.Walk(d, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, int(s.cred.Uid), int(s.cred.Gid))
	})
}

// Start starts the server (again, after Stop) on the same ports and data,
// and waits until it answers.
func (s *Server) Start() error {
	if s.external != "" {
		return errors.New("chtest: an external server (TEST_CLICKHOUSE_URL) cannot be started")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	args := append(s.bin[1:], "--config-file="+filepath.Join(s.dir, "config.xml"))
	cmd := exec.Command(s.bin[0], args...)
	cmd.Dir = s.dir
	out, err := os.OpenFile(filepath.Join(s.dir, "log", "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	// The server dies with the test binary, even when it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin[0], err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	url := fmt.Sprintf("http://127.0.0.1:%d/ping", s.httpPort)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.cmd = cmd
				go func() { <-exited }()
				return nil
			}
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "log", "error.log"))
			return fmt.Errorf("clickhouse-server exited: %v\n%s", err, tail(log, 2000))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return errors.New("clickhouse-server did not answer within 60s")
		}
	}
}

// Stop stops the server; its data stays for Start.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	p := s.cmd.Process
	p.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for {
			if err := p.Signal(syscall.Signal(0)); err != nil {
				close(done)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		p.Kill()
		<-done
	}
	s.cmd = nil
}

// HTTP is the base URL of the server's HTTP interface
// (http://127.0.0.1:port); for an external server, TEST_CLICKHOUSE_HTTP
// or port 8123 of its host.
func (s *Server) HTTP() string {
	if s.external == "" {
		return fmt.Sprintf("http://127.0.0.1:%d", s.httpPort)
	}
	if u := os.Getenv("TEST_CLICKHOUSE_HTTP"); u != "" {
		return u
	}
	o, _ := clickhouse.ParseURL(s.external)
	host, _, _ := net.SplitHostPort(o.Addr[0])
	return "http://" + net.JoinHostPort(host, "8123")
}

// External says whether the server is an external one, which tests cannot
// stop.
func (s *Server) External() bool { return s.external != "" }

// Pid is the started server's process id, for its CPU time and memory;
// 0 when it is external or stopped.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *Server) close() {
	if s.external != "" {
		return
	}
	s.Stop()
	os.RemoveAll(s.dir)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
