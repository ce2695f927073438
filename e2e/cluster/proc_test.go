package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is one faultline role running as a process of its own.
type proc struct {
	name    string // gateway-1, grouping-2, …
	URL     string // http://127.0.0.1:<PORT>
	metrics string // http://127.0.0.1:<port of METRICS_LISTEN>/metrics
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	stopped bool // by stop
}

// startRole starts `faultline <role>` with env and PORT set to a free port;
// it is stopped with SIGTERM when the test ends, and the test fails unless
// it exits cleanly. Its log is printed when the test failed.
func startRole(t *testing.T, bin, role, name string, env []string) *proc {
	t.Helper()
	ports := freePorts(t, 2)
	port := ports[0]
	p := &proc{name: name, URL: "http://127.0.0.1:" + strconv.Itoa(port),
		metrics: "http://127.0.0.1:" + strconv.Itoa(ports[1]) + "/metrics",
		logPath: filepath.Join(t.TempDir(), name+".log"), exited: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, role)
	p.cmd.Env = append(env, "PORT="+strconv.Itoa(port), "METRICS_LISTEN=127.0.0.1:"+strconv.Itoa(ports[1]))
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start faultline %s: %v", role, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if p.stopped {
			return // stopped by the test, and checked then
		}
		if err := p.stop(); err != nil {
			t.Errorf("%s: %v", p.name, err)
		}
		if t.Failed() {
			t.Logf("%s log (last 40 lines):\n%s", p.name, p.tail(40))
		}
	})
	return p
}

// waitReady waits until the role's /readyz answers 200.
func (p *proc) waitReady(ctx context.Context) error {
	last := "no answer"
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before it was ready: %v\n%s", p.name, p.waitErr, p.tail(20))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %s\n%s", p.name, last, p.tail(20))
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(p.URL + "/readyz")
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

// metric is the value of an unlabelled Prometheus sample, or an error when
// the process does not export it.
func (p *proc) metric(name string) (float64, error) {
	resp, err := http.Get(p.metrics)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s does not export %s", p.name, name)
}

// stop sends SIGTERM and waits; it is an error unless the process exits
// with status 0 within 30 seconds.
func (p *proc) stop() error {
	select {
	case <-p.exited:
		return fmt.Errorf("had already exited: %v", p.waitErr)
	default:
	}
	p.stopped = true
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.waitErr != nil {
			return fmt.Errorf("did not exit cleanly after SIGTERM: %v", p.waitErr)
		}
		return nil
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		return errors.New("still running 30 s after SIGTERM; killed")
	}
}

// cpu is the CPU time the process has used so far (user and system), read
// from /proc; 0 where there is none.
func (p *proc) cpu() time.Duration { return cpuOf(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid)) }

// selfCPU is the CPU time the test process has used so far.
func selfCPU() time.Duration { return cpuOf("/proc/self/stat") }

func cpuOf(stat string) time.Duration {
	b, err := os.ReadFile(stat)
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14 and stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

// tail is the last n lines of the log.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// run runs a faultline command to completion and returns its output.
func run(ctx context.Context, bin string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// startAPI builds the roles' environment (the database, the cluster, R3,
// no rate limits, then extra), migrates, and starts the api first: it
// creates the streams and publishes project keys to the gateways.
func startAPI(ctx context.Context, t *testing.T, bin, dbURL, natsURL string, extra ...string) ([]string, *proc) {
	t.Helper()
	env := append(os.Environ(),
		"DATABASE_URL="+dbURL, "NATS_URL="+natsURL, "INGEST_REPLICAS=3", "HOST=127.0.0.1",
		"DATA_DIR="+t.TempDir(),
		"MAX_EVENTS_PER_MINUTE=0", "MAX_EVENTS_PER_HOUR=0",
		"MAX_EVENTS_PER_PROJECT_PER_MINUTE=0", "MAX_EVENTS_PER_PROJECT_PER_HOUR=0",
	)
	env = append(env, extra...)
	if out, err := run(ctx, bin, env, "migrate"); err != nil {
		t.Fatalf("faultline migrate: %v\n%s", err, out)
	}
	api := startRole(t, bin, "api", "api", env)
	if err := api.waitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return env, api
}
