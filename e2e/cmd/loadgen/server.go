package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/faultline/faultline/libs/pg/pgtest"
	"github.com/faultline/faultline/services/gateway"
)

// server is a `faultline serve` this program started: its own data
// directory, a fresh database, and a project.
type server struct {
	cmd    *exec.Cmd
	bin    string
	env    []string
	db     *pgtest.DB
	dir    string
	base   string
	target *target
	keep   bool
	done   chan struct{}
}

// startServer starts binary serve with quotas off (a benchmark measures
// throughput, not quotas) plus extra environment, creates a project and
// waits until the gateway accepts its key.
func startServer(ctx context.Context, binary string, roles string, extra []string, keep bool) (*server, error) {
	bin, err := filepath.Abs(binary)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("faultline binary: %w (run make build)", err)
	}
	db, err := pgtest.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	dir, err := os.MkdirTemp("", "faultline-bench-")
	if err != nil {
		db.Drop()
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		db.Drop()
		return nil, err
	}
	s := &server{db: db, dir: dir, base: "http://127.0.0.1:" + strconv.Itoa(port), keep: keep, done: make(chan struct{})}
	env := append(os.Environ(),
		"DATABASE_URL="+db.URL, "HOST=127.0.0.1", "PORT="+strconv.Itoa(port), "DATA_DIR="+filepath.Join(dir, "data"),
		"LOG_LEVEL=warn", "NATS_URL=", "NATS_LISTEN=",
		"MAX_EVENTS_PER_MINUTE=0", "MAX_EVENTS_PER_HOUR=0", "MAX_EVENTS_PER_PROJECT_PER_MINUTE=0", "MAX_EVENTS_PER_PROJECT_PER_HOUR=0")
	env = append(env, extra...)
	s.bin, s.env = bin, env
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		s.cleanup()
		return nil, err
	}
	args := []string{"serve"}
	if roles != "" {
		args = append(args, "--roles", roles)
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = env
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		s.cleanup()
		return nil, err
	}
	go func() { s.cmd.Wait(); logf.Close(); close(s.done) }()

	fail := func(err error) (*server, error) {
		s.stop()
		log, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
		return nil, fmt.Errorf("%w\nserve log:\n%s", err, log)
	}
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		return fail(err)
	}
	create := exec.CommandContext(ctx, bin, "project", "create", "--org", "bench", "bench")
	create.Env = env
	out, err := create.CombinedOutput()
	if err != nil {
		return fail(fmt.Errorf("project create: %w: %s", err, out))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	s.target, err = newTarget(s.base, lines[len(lines)-1])
	if err != nil {
		return fail(err)
	}
	// The key reaches the gateway through the key bucket; wait for it.
	deadline := time.Now().Add(30 * time.Second)
	probe := buildBodies(1, 99)
	c := &conn{addr: s.target.host}
	defer c.close()
	for seq := uint64(1); ; seq++ {
		status, err := c.do(request(nil, s.target, &probe[0], seq), 5*time.Second)
		if err == nil && status == http.StatusOK {
			return s, nil
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("gateway does not accept the new key: status %d, %v", status, err))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cli runs a faultline command against the server's database and NATS and
// returns its output.
func (s *server) cli(ctx context.Context, args ...string) (string, error) {
	c := exec.CommandContext(ctx, s.bin, args...)
	c.Env = s.env
	out, err := c.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("faultline %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (s *server) waitReady(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return errors.New("faultline serve exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s", d)
		}
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop shuts the server down gracefully and removes its data.
func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		select {
		case <-s.done:
			// It exited before being asked to: say why.
			log, _ := os.ReadFile(filepath.Join(s.dir, "serve.log"))
			if len(log) > 4000 {
				log = log[len(log)-4000:]
			}
			fmt.Printf("faultline serve (pid %d) exited by itself: %v; the end of its log:\n%s\n", s.pid(), s.cmd.ProcessState, log)
		default:
		}
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	s.cleanup()
}

func (s *server) cleanup() {
	if s.keep {
		fmt.Printf("kept %s and database %s\n", s.dir, s.db.Name)
		return
	}
	os.RemoveAll(s.dir)
	s.db.Drop()
}

// printRSS prints the process's resident set now (VmRSS) and its peak
// (VmHWM).
func (s *server) printRSS(label string) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.pid()))
	if err != nil {
		fmt.Printf("%-34s %v\n", label, err)
		return
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), ":")
		if ok && (name == "VmRSS" || name == "VmHWM") {
			vals[name] = strings.TrimSpace(v)
		}
	}
	fmt.Printf("%-34s VmRSS %s  VmHWM %s\n", label, mb(vals["VmRSS"]), mb(vals["VmHWM"]))
}

func mb(kb string) string {
	n, err := strconv.Atoi(strings.TrimSuffix(kb, " kB"))
	if err != nil {
		return kb
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1024)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// bare is an HTTP server that only reads and decompresses the body, with
// the gateway's own Decompress, and answers 200: the ceiling of what any
// gateway can do on this machine with net/http. It runs in a process of its
// own, as faultline does, so its CPU time and garbage are its own.
type bare struct {
	cmd  *exec.Cmd
	addr string
}

func startBare(ctx context.Context) (*bare, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-bare-listen", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("bare handler: %w", err)
	}
	return &bare{cmd: cmd, addr: strings.TrimSpace(addr)}, nil
}

func (b *bare) close() {
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.cmd.Wait()
}

var wirePool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// serveBare is the bare handler's process: it prints its address and serves
// until ctx ends.
func serveBare(ctx context.Context, addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := wirePool.Get().(*bytes.Buffer)
		buf.Reset()
		defer wirePool.Put(buf)
		if _, err := buf.ReadFrom(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := gateway.Decompress(r.Header.Get("Content-Encoding"), buf.Bytes(), gateway.DefaultBodyLimits.Decompressed); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Println(l.Addr().String())
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *server) pidOrZero() int {
	if s == nil {
		return 0
	}
	return s.pid()
}

// measureCPU samples the CPU time (user and system) of process pid after
// warmup and again after d more; the returned function waits for the second
// sample and returns the difference. pid 0 measures nothing.
func measureCPU(pid int, warmup, d time.Duration) func() time.Duration {
	if pid == 0 {
		return func() time.Duration { return 0 }
	}
	done := make(chan time.Duration, 1)
	go func() {
		time.Sleep(warmup)
		a := cpuTime(pid)
		time.Sleep(d)
		done <- cpuTime(pid) - a
	}()
	return func() time.Duration { return <-done }
}

// cpuTime is utime+stime of pid from /proc/<pid>/stat, in clock ticks of
// 10ms (USER_HZ is 100 on Linux).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// gatewayRoles are the roles the gateway scenarios run: the ingestion path
// (and the api role, which makes the project's key), without grouping and
// the dashboard competing for the same two cores. The pipeline scenarios
// run every role.
const gatewayRoles = "gateway,api"
