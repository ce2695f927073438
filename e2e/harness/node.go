package harness

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// NodeDir is e2e/node, where scripts/deps.sh installs the npm packages the
// tests run (npm ci).
func NodeDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "node")
}

// SentryCLI is one version of sentry-cli installed in e2e/node.
type SentryCLI struct {
	Name    string // "2.x" or "3.x"
	Version string // what `sentry-cli --version` prints: "sentry-cli 2.58.6"
	Path    string // its launcher script
}

// SentryCLIs are the versions e2e/node/package.json installs: @sentry/cli
// (3.x) and, under the npm alias sentry-cli-2, @sentry/cli 2.x. Each package
// declares the bin "sentry-cli", so node_modules/.bin/sentry-cli is one of
// them, whichever npm linked last: run them by their package's path. Each
// launcher runs the binary of its own optional platform package
// (@sentry/cli-linux-x64 at its version), which comes from the npm registry
// like the rest. It fails t when one is not installed.
func SentryCLIs(t testing.TB) []SentryCLI {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(NodeDir(), "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct{ Dependencies map[string]string }
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatalf("e2e/node/package.json: %v", err)
	}
	var clis []SentryCLI
	for _, c := range []struct{ name, dep, spec string }{
		{"3.x", "@sentry/cli", ""},
		{"2.x", "sentry-cli-2", "npm:@sentry/cli@"},
	} {
		version, ok := strings.CutPrefix(pkg.Dependencies[c.dep], c.spec)
		if !ok || !strings.HasPrefix(version, c.name[:2]) {
			t.Fatalf("e2e/node/package.json: dependency %q is %q, want %s%s", c.dep, pkg.Dependencies[c.dep], c.spec, c.name)
		}
		p, err := filepath.Abs(filepath.Join(NodeDir(), "node_modules", c.dep, "bin", "sentry-cli"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("sentry-cli %s is not installed in e2e/node: run scripts/deps.sh (npm ci): %v", c.name, err)
		}
		clis = append(clis, SentryCLI{Name: c.name, Version: "sentry-cli " + version, Path: p})
	}
	return clis
}

// NodeBin is the path of an executable of e2e/node/node_modules/.bin, such
// as esbuild; it fails t when it is not installed.
func NodeBin(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(NodeDir(), "node_modules", ".bin", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed in e2e/node: run scripts/deps.sh (npm ci): %v", name, err)
	}
	return p
}
