package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/libs/pg/pgtest"
	"github.com/faultline/faultline/services/grouping"
	"github.com/faultline/faultline/streams"
)

// "grouping explain" prints the same explanation as the grouping package's
// golden files, with rules as text or as JSON, and needs no configuration.
func TestGroupingExplain(t *testing.T) {
	const events = "../../../libs/grouping/testdata"
	dir := t.TempDir()
	text, err := os.ReadFile(filepath.Join(events, "rules.txt"))
	if err != nil {
		t.Fatal(err)
	}
	jsonRules := filepath.Join(dir, "rules.json")
	var stack, fp []string
	for _, l := range strings.Split(string(text), "\n") {
		if strings.Contains(l, "->") {
			fp = append(fp, l)
		} else {
			stack = append(stack, l)
		}
	}
	os.WriteFile(jsonRules, []byte(`{"stacktrace": `+quote(strings.Join(stack, "\n"))+`, "fingerprinting": `+quote(strings.Join(fp, "\n"))+`}`), 0o644)
	badRules := filepath.Join(dir, "bad.txt")
	os.WriteFile(badRules, []byte("stack.module:foo -app\nstack.nothing:x -app\n"), 0o644)

	noEnv := func(string) string { return "" }
	tests := []struct {
		name   string
		args   []string
		golden string
		err    string
	}{
		{"no rules", []string{"grouping", "explain", filepath.Join(events, "events/go_error.json")}, "go_error.json", ""},
		{"text rules", []string{"grouping", "explain", filepath.Join(events, "events/go_error.json"), "--rules", filepath.Join(events, "rules.txt")}, "go_error.rules.json", ""},
		{"json rules, flag first", []string{"grouping", "explain", "--rules", jsonRules, filepath.Join(events, "events/js_browser.json")}, "js_browser.rules.json", ""},
		{"bad rules name the line", []string{"grouping", "explain", filepath.Join(events, "events/go_error.json"), "--rules", badRules}, "", `line 2: unknown matcher "stack.nothing"`},
		{"bad event", []string{"grouping", "explain", badRules}, "", "bad event payload"},
		{"no file", []string{"grouping", "explain"}, "", "want one event file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Run(context.Background(), tt.args, noEnv, &out)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(events, "explain", tt.golden))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("output differs from %s:\n%s", tt.golden, out.String())
			}
		})
	}
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func TestGroupingRulesGetSet(t *testing.T) {
	db := pgtest.NewT(t, migrationSets...)
	// Rule changes are decisions: a grouping replica applies them.
	srv := natstest.Start(t)
	nc := srv.Connect(t)
	if err := streams.Apply(context.Background(), nc.JS, streams.IngestOptions{MaxAge: time.Hour, MaxBytes: -1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	gctx, stop := context.WithCancel(context.Background())
	gsvc, err := grouping.New(gctx, db.Pool, nc, grouping.DefaultOptions(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	gdone := make(chan struct{})
	go func() { defer close(gdone); gsvc.Run(gctx) }()
	t.Cleanup(func() { stop(); <-gdone })
	env := map[string]string{"DATABASE_URL": db.URL, "NATS_URL": srv.URL}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := Run(context.Background(), args, func(k string) string { return env[k] }, &out)
		return out.String(), err
	}
	if out, err := run("project", "create", "--org", "acme", "Web"); err != nil {
		t.Fatalf("project create: %v\n%s", err, out)
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stack := write("stack.txt", "stack.module:vendor.* -app\n")
	fp := write("fp.txt", "error.type:Timeout -> timeouts\n")
	bad := write("bad.txt", "# fine\nerror.type:Timeout ->\n")
	type rules struct{ Stacktrace, Fingerprinting string }
	get := func() rules {
		t.Helper()
		out, err := run("grouping", "rules", "get", "--project", "acme/web")
		if err != nil {
			t.Fatalf("get: %v\n%s", err, out)
		}
		var r rules
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("get output %q: %v", out, err)
		}
		return r
	}
	if r := get(); r != (rules{}) {
		t.Errorf("rules of a new project: %+v", r)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
		want    rules
	}{
		{"stack only", []string{"--stacktrace", stack}, "", rules{Stacktrace: "stack.module:vendor.* -app\n"}},
		{"fingerprint keeps stack", []string{"--fingerprinting", fp}, "", rules{"stack.module:vendor.* -app\n", "error.type:Timeout -> timeouts\n"}},
		{"a bad rule names its line", []string{"--fingerprinting", bad}, "line 2", rules{"stack.module:vendor.* -app\n", "error.type:Timeout -> timeouts\n"}},
		{"no file", nil, "give --stacktrace", rules{"stack.module:vendor.* -app\n", "error.type:Timeout -> timeouts\n"}},
		{"missing file", []string{"--stacktrace", filepath.Join(dir, "none")}, "no such file", rules{"stack.module:vendor.* -app\n", "error.type:Timeout -> timeouts\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(append([]string{"grouping", "rules", "set", "--project", "acme/web"}, tt.args...)...)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("set: %v\n%s", err, out)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("set: error %v, want one with %q", err, tt.wantErr)
			}
			if r := get(); r != tt.want {
				t.Errorf("after set: %+v, want %+v", r, tt.want)
			}
		})
	}
	if _, err := run("grouping", "rules", "get", "--project", "acme/nope"); err == nil {
		t.Error("get of an unknown project succeeded")
	}
	// The printed rules are a rules file for 'grouping explain --rules'.
	out, _ := run("grouping", "rules", "get", "--project", "acme/web")
	if _, err := parseRulesFile([]byte(out)); err != nil {
		t.Errorf("get output is not a rules file: %v", err)
	}
}
