package grouping

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/event"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var testMeta = event.Meta{ProjectID: 1, Received: time.Date(2024, 5, 1, 12, 0, 30, 0, time.UTC), ClientIP: "203.0.113.9"}

func readEvent(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func normalize(t testing.TB, payload []byte) *event.Event {
	t.Helper()
	e, err := event.Normalize(payload, testMeta)
	if err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	return e
}

// mutate decodes an event file, lets f change it, and encodes it again.
func mutate(t testing.TB, name string, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(readEvent(t, name), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// at walks a decoded JSON value by keys and indexes.
func at(v any, path ...any) any {
	for _, p := range path {
		switch p := p.(type) {
		case string:
			v = v.(map[string]any)[p]
		case int:
			v = v.([]any)[p]
		}
	}
	return v
}

func frames(m map[string]any, exc int) []any {
	ex := m["exception"]
	if vals, ok := ex.(map[string]any); ok {
		ex = vals["values"]
	}
	return at(ex, exc, "stacktrace", "frames").([]any)
}

func setFrames(m map[string]any, exc int, fs []any) {
	ex := m["exception"]
	if vals, ok := ex.(map[string]any); ok {
		ex = vals["values"]
	}
	at(ex, exc, "stacktrace").(map[string]any)["frames"] = fs
}

func file(name string) func(t testing.TB) []byte {
	return func(t testing.TB) []byte { return readEvent(t, name) }
}

func changed(name string, f func(m map[string]any)) func(t testing.TB) []byte {
	return func(t testing.TB) []byte { return mutate(t, name, f) }
}

func TestGroupsTogether(t *testing.T) {
	tests := []struct {
		name string
		a, b func(t testing.TB) []byte
		same bool
	}{
		{"go: other line numbers and context lines group together", file("go_error.json"), changed("go_error.json", func(m map[string]any) {
			for _, f := range frames(m, 0) {
				f := f.(map[string]any)
				f["lineno"] = f["lineno"].(float64) + 17
				f["context_line"] = "\t// moved"
			}
		}), true},
		{"go: other error value with a stack trace groups together", file("go_error.json"), changed("go_error.json", func(m map[string]any) {
			at(m, "exception", 0).(map[string]any)["value"] = "open /var/data/cart-9.json: permission denied"
		}), true},
		{"go: a different in-app function splits", file("go_error.json"), changed("go_error.json", func(m map[string]any) {
			at(frames(m, 0), 3).(map[string]any)["function"] = "saveCart"
		}), false},
		{"go: a different exception type splits", file("go_error.json"), changed("go_error.json", func(m map[string]any) {
			at(m, "exception", 0).(map[string]any)["type"] = "*errors.errorString"
		}), false},
		{"go: other system frames keep the app hash", file("go_error.json"), changed("go_error.json", func(m map[string]any) {
			at(frames(m, 0), 1).(map[string]any)["function"] = "HandlerFunc.ServeHTTP"
		}), true},
		{"go: a different release and user group together", file("go_error.json"), changed("go_error.json", func(m map[string]any) {
			m["release"] = "shop@1.5.0"
			m["user"] = map[string]any{"id": "7"}
		}), true},
		{"js: a new build (hashes, line and column numbers) groups together", file("js_browser.json"), changed("js_browser.json", func(m map[string]any) {
			for _, f := range frames(m, 0) {
				f := f.(map[string]any)
				fn := f["filename"].(string)
				fn = strings.ReplaceAll(fn, "3f2a1b9c", "77c0ffee1")
				fn = strings.ReplaceAll(fn, "8a9f0c1d", "0b1c2d3e")
				f["filename"] = strings.Replace(fn, "app.example.com", "cdn.example.org", 1)
				f["colno"] = f["colno"].(float64) + 311
			}
		}), true},
		{"js: a different in-app function splits", file("js_browser.json"), changed("js_browser.json", func(m map[string]any) {
			at(frames(m, 0), 2).(map[string]any)["function"] = "renderCharts"
		}), false},
		{"js: without a function, the context line groups", file("js_browser_minified_nofunc.json"), changed("js_browser_minified_nofunc.json", func(m map[string]any) {
			f := at(frames(m, 0), 0).(map[string]any)
			f["filename"] = "https://cdn.example.com/assets/app-Zq81Lm0P.js?v=20240502"
			f["abs_path"] = f["filename"]
			f["colno"] = 9999
			at(m, "exception", "values", 0).(map[string]any)["value"] = "Request failed with status 500"
		}), true},
		{"js: without a function, a different context line splits", file("js_browser_minified_nofunc.json"), changed("js_browser_minified_nofunc.json", func(m map[string]any) {
			at(frames(m, 0), 0).(map[string]any)["context_line"] = "postJSON(url, body)"
		}), false},
		{"node: node_modules frames do not split the app hash", file("node_error.json"), changed("node_error.json", func(m map[string]any) {
			at(frames(m, 0), 1).(map[string]any)["function"] = "Pool._connect"
			at(m, "exception", "values", 0).(map[string]any)["value"] = "connect ECONNREFUSED 10.0.3.18:5432"
		}), true},
		{"node: recursion depth does not split", file("node_error.json"), changed("node_error.json", func(m map[string]any) {
			fs := frames(m, 0)
			last := fs[len(fs)-1]
			setFrames(m, 0, append(fs, last, last, last))
		}), true},
		{"python: the chain's cause counts", file("python_chained.json"), changed("python_chained.json", func(m map[string]any) {
			at(frames(m, 0), 0).(map[string]any)["function"] = "customer_of"
		}), false},
		{"python: the chain's values do not count when stack traces do", file("python_chained.json"), changed("python_chained.json", func(m map[string]any) {
			at(m, "exception", "values", 1).(map[string]any)["value"] = "could not load order 99"
			at(m, "exception", "values", 0).(map[string]any)["value"] = "'vendor_id'"
		}), true},
		{"python: the exception group's wrapper does not count", file("python_exception_group.json"), changed("python_exception_group.json", func(m map[string]any) {
			g := at(m, "exception", "values", 2).(map[string]any)
			g["value"] = "3 sub-exceptions"
			at(g, "stacktrace", "frames", 0).(map[string]any)["function"] = "main2"
		}), true},
		{"python: the exception group's members count", file("python_exception_group.json"), changed("python_exception_group.json", func(m map[string]any) {
			at(m, "exception", "values", 0).(map[string]any)["type"] = "TypeError"
		}), false},
		{"message: same template, other parameters", file("message_logentry.json"), changed("message_logentry.json", func(m map[string]any) {
			m["logentry"] = map[string]any{"message": "Payment %s declined for user %s", "params": []any{"pi_77", "bob@example.com"}}
		}), true},
		{"message: numbers, UUIDs, dates, IPs, URLs and quoted values are parameters", file("message_plain.json"), changed("message_plain.json", func(m map[string]any) {
			m["message"] = "Job 9 for tenant 0a1b2c3d-0000-4c3e-9a1f-aaaaaaaaaaaa failed after 12.25s at 2024-06-02T11:00:00Z from 192.168.0.1 (see https://status.example.com/jobs/9?x=1) with 'disk full'"
		}), true},
		{"message: other words split", file("message_plain.json"), changed("message_plain.json", func(m map[string]any) {
			m["message"] = "Job 8812 for tenant 6f1c2a9e-5b7d-4c3e-9a1f-2b3c4d5e6f70 succeeded"
		}), false},
		{"fingerprint: a fixed fingerprint groups different errors", file("fingerprint_override.json"), changed("fingerprint_override.json", func(m map[string]any) {
			m["exception"] = []any{map[string]any{"type": "*pq.Error", "value": "too many connections"}}
		}), true},
		{"fingerprint: {{ default }} with another transaction splits", file("fingerprint_custom.json"), changed("fingerprint_custom.json", func(m map[string]any) {
			m["transaction"] = "POST /api/cart"
		}), false},
		{"fingerprint: {{ default }} keeps the default grouping's parts", file("fingerprint_custom.json"), changed("fingerprint_custom.json", func(m map[string]any) {
			at(frames(m, 0), 0).(map[string]any)["function"] = "send"
		}), false},
		{"csp: same directive and blocked host, other page and path", file("csp_report.json"), file("csp_reporting_api.json"), true},
		{"csp: another blocked host splits", file("csp_report.json"), changed("csp_report.json", func(m map[string]any) {
			at(m, "csp-report").(map[string]any)["blocked-uri"] = "https://cdn.tracker.example/t.js"
		}), false},
		{"csp: another directive splits", file("csp_report.json"), changed("csp_report.json", func(m map[string]any) {
			at(m, "csp-report").(map[string]any)["effective-directive"] = "img-src"
		}), false},
		{"java: lambda class numbers do not split", file("java_threads.json"), changed("java_threads.json", func(m map[string]any) {
			at(m, "threads", "values", 0, "stacktrace", "frames", 1).(map[string]any)["module"] = "com.example.app.ui.FeedActivity$$Lambda$97/0x00000008099aa"
		}), true},
		{"java: the crashed thread's frames count", file("java_threads.json"), changed("java_threads.json", func(m map[string]any) {
			at(m, "threads", "values", 0, "stacktrace", "frames", 2).(map[string]any)["function"] = "loadAsync"
		}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ra := Compute(normalize(t, tt.a(t)), nil)
			rb := Compute(normalize(t, tt.b(t)), nil)
			if len(ra.Hashes) == 0 || len(rb.Hashes) == 0 {
				t.Fatalf("no hashes: %v / %v", ra.Hashes, rb.Hashes)
			}
			if got := ra.Hashes[0] == rb.Hashes[0]; got != tt.same {
				t.Errorf("same primary hash = %v, want %v\na: %v\nb: %v", got, tt.same, ra.Hashes, rb.Hashes)
			}
			if !tt.same {
				for _, h := range ra.Hashes {
					for _, h2 := range rb.Hashes {
						if h == h2 {
							t.Errorf("events that must not group share hash %s", h)
						}
					}
				}
			}
		})
	}
}

func TestVariants(t *testing.T) {
	tests := []struct {
		file        string
		contributes []string // names of contributing variants, in order
		hashes      int
	}{
		{"go_error.json", []string{"app", "system"}, 2},
		{"js_browser.json", []string{"app", "system"}, 2},
		{"node_error.json", []string{"app", "system"}, 2},
		{"python_chained.json", []string{"app", "system"}, 2},
		{"python_exception_group.json", []string{"app", "system"}, 1}, // all frames in-app: one hash
		{"java_threads.json", []string{"app", "system"}, 2},
		{"message_logentry.json", []string{"default"}, 1},
		{"fingerprint_override.json", []string{"custom-fingerprint"}, 1},
		{"fingerprint_custom.json", []string{"app", "system"}, 1},
		{"csp_report.json", []string{"default"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := Compute(normalize(t, readEvent(t, tt.file)), nil)
			var got []string
			for _, v := range r.Variants {
				if v.Contributes {
					got = append(got, v.Name)
					if v.Hash == "" {
						t.Errorf("variant %s contributes without a hash", v.Name)
					}
				} else if v.Hash != "" {
					t.Errorf("variant %s does not contribute but has hash %s", v.Name, v.Hash)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.contributes, ",") {
				t.Errorf("contributing variants = %v, want %v", got, tt.contributes)
			}
			if len(r.Hashes) != tt.hashes {
				t.Errorf("hashes = %v, want %d", r.Hashes, tt.hashes)
			}
			if r.Config != ConfigID {
				t.Errorf("config = %q", r.Config)
			}
		})
	}
}

// A system-only stack trace has no app hash: the system variant is primary.
func TestNoInAppFramesUsesSystem(t *testing.T) {
	b := mutate(t, "go_error.json", func(m map[string]any) {
		for _, f := range frames(m, 0) {
			f.(map[string]any)["in_app"] = false
		}
	})
	r := Compute(normalize(t, b), nil)
	if len(r.Hashes) != 1 || r.Variants[0].Contributes || r.Hashes[0] != r.Variants[1].Hash {
		t.Fatalf("want only the system hash, got hashes %v, variants %+v", r.Hashes, r.Variants)
	}
}

// The hash is Sentry's: the md5 of the contributing values in order.
func TestHashIsMD5OfValues(t *testing.T) {
	e := normalize(t, []byte(`{"message":"disk full"}`))
	r := Compute(e, nil)
	if got, want := r.Hashes[0], md5hex("disk full"); got != want {
		t.Errorf("hash = %s, want md5(\"disk full\") = %s", got, want)
	}
	e = normalize(t, []byte(`{"fingerprint":["a","b"],"message":"x"}`))
	if got, want := Compute(e, nil).Hashes[0], md5hex("ab"); got != want {
		t.Errorf("fingerprint hash = %s, want %s", got, want)
	}
}

func md5hex(s string) string {
	c := newComponent("x", s)
	return c.hash()
}

func TestRules(t *testing.T) {
	const stack = `
# vendored code is not ours
stack.module:example.com/shop/internal/* -app
stack.function:loadCart +app
family:javascript stack.abs_path:**/vendor.*.js -group
`
	const fp = `
error.type:"*fs.PathError" stack.function:loadCart -> cart-files
message:"*ECONNREFUSED*" -> database-down, {{ default }}
tags.handler:checkout error.type:nothing -> never
`
	rules, err := ParseRules(stack, fp)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("fingerprint rule overrides", func(t *testing.T) {
		r := Compute(normalize(t, readEvent(t, "go_error.json")), rules)
		if r.Variants[0].Name != "custom-fingerprint" || r.Hashes[0] != md5hex("cart-files") || len(r.Hashes) != 1 {
			t.Fatalf("got %v %+v", r.Hashes, r.Variants[0])
		}
		if !strings.Contains(r.Variants[0].Hint, "cart-files") {
			t.Errorf("hint %q does not name the rule", r.Variants[0].Hint)
		}
	})
	t.Run("fingerprint rule with default salts", func(t *testing.T) {
		plain := Compute(normalize(t, readEvent(t, "node_error.json")), nil)
		r := Compute(normalize(t, readEvent(t, "node_error.json")), rules)
		if r.Variants[0].Name != "app" || r.Hashes[0] == plain.Hashes[0] {
			t.Fatalf("want a salted app hash, got %v (plain %v)", r.Hashes, plain.Hashes)
		}
	})
	t.Run("stack rules change in-app", func(t *testing.T) {
		b := mutate(t, "go_error.json", func(m map[string]any) {
			at(m, "exception", 0).(map[string]any)["type"] = "*os.SyscallError"
		})
		plain := Compute(normalize(t, b), nil)
		r := Compute(normalize(t, b), rules)
		// checkoutHandler is now not in-app: only main and loadCart are.
		if r.Hashes[0] == plain.Hashes[0] {
			t.Fatalf("stack rules did not change the app hash")
		}
		b2 := mutate(t, "go_error.json", func(m map[string]any) {
			at(m, "exception", 0).(map[string]any)["type"] = "*os.SyscallError"
			at(frames(m, 0), 2).(map[string]any)["function"] = "otherHandler"
		})
		if r2 := Compute(normalize(t, b2), rules); r2.Hashes[0] != r.Hashes[0] {
			t.Errorf("a frame made not in-app by a rule still splits the app hash")
		}
	})
	t.Run("-group removes frames from every variant", func(t *testing.T) {
		a := Compute(normalize(t, readEvent(t, "js_browser.json")), rules)
		b := Compute(normalize(t, mutate(t, "js_browser.json", func(m map[string]any) {
			at(frames(m, 0), 0).(map[string]any)["function"] = "Qr"
		})), rules)
		if a.Hashes[len(a.Hashes)-1] != b.Hashes[len(b.Hashes)-1] {
			t.Errorf("system hash changed with a frame removed by -group")
		}
	})
}

func TestRangeAndCallerRules(t *testing.T) {
	ev := []byte(`{"platform":"rust","exception":[{"type":"panic","value":"boom","stacktrace":{"frames":[
		{"function":"main","in_app":true},
		{"function":"app::run","in_app":true},
		{"function":"std::panicking::begin_panic","in_app":false},
		{"function":"std::rt::lang_start_internal","in_app":false},
		{"function":"core::panicking::panic_fmt","in_app":false}]}}]}`)
	systemHash := func(rules *Rules) string {
		r := Compute(normalize(t, ev), rules)
		return r.Variants[1].Hash
	}
	base := systemHash(nil)
	only := func(stack string) *Rules {
		r, err := ParseRules(stack, "")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	up := systemHash(only(`stack.function:std::panicking::begin_panic ^-group`))
	manual := systemHash(only("stack.function:std::rt::* -group\nstack.function:core::* -group"))
	if up == base || up != manual {
		t.Errorf("^-group: got %s, want %s (base %s)", up, manual, base)
	}
	caller := systemHash(only(`[ function:app::run ] | function:std::panicking::* -group`))
	direct := systemHash(only(`function:std::panicking::begin_panic -group`))
	if caller != direct {
		t.Errorf("caller matcher: got %s, want %s", caller, direct)
	}
	if miss := systemHash(only(`[ function:nothing ] | function:std::panicking::* -group`)); miss != base {
		t.Errorf("caller matcher that does not match changed the hash")
	}
	if got := systemHash(only(`family:other max-frames=2`)); got == base {
		t.Errorf("max-frames=2 did not change the hash")
	}
}

func TestParseRules(t *testing.T) {
	tests := []struct {
		stack, fp string
		err       string // "" for valid
	}{
		{"stack.module:foo.* -app", "", ""},
		{"stack.function:panic_handler ^-group -group", "", ""},
		{`family:javascript stack.abs_path:"**/node_modules/**" -app`, "", ""},
		{"[ stack.function:a ] | stack.function:b -group", "", ""},
		{"stack.function:b | [ stack.function:c ] +app", "", ""},
		{"!app:yes category=internal", "", ""},
		{"family:native max-frames=3", "", ""},
		{"stack.function:a ^-group   # towards the crash", "", ""},
		{"", `message:"a # b" -> x # comment`, ""},
		{"", `error.type:Timeout -> timeouts`, ""},
		{"", `message:"*timeout*" -> slow, {{ default }}`, ""},
		{"", `tags.server_name:"web-*" level:error -> web, {{ transaction }} title="Web {{ type }}"`, ""},
		{"", "# only a comment\n\n", ""},
		{"stack.module:foo", "", "stack-trace rules line 1: no action"},
		{"\n\nfoo:bar -app", "", `stack-trace rules line 3: unknown matcher "foo"`},
		{"stack.module:foo +ap", "", `unknown flag "ap"`},
		{"error.type:Foo -app", "", `does not apply to frames`},
		{"stack.module:\"foo -app", "", "unterminated quote"},
		{"", "error.type:Timeout", `fingerprint rules line 1: missing "->"`},
		{"", "error.type:Timeout ->", "no fingerprint"},
		{"", "-> x", "no matcher"},
		{"", "nonsense -> x", "is not a matcher"},
		{"max-frames=x stack.module:a", "", "max-frames wants a number"},
		{"[ stack.module:a | stack.module:b -app", "", `"|" is not a matcher`},
		{"[ stack.module:a", "", `missing "]"`},
		{"", `error.type:x -> title=y z`, "after an attribute"},
		{"", `error.type:x -> a title=y b`, "after an attribute"},
	}
	for _, tt := range tests {
		t.Run(tt.stack+tt.fp, func(t *testing.T) {
			r, err := ParseRules(tt.stack, tt.fp)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if len(r.Stack)+len(r.Fingerprint) == 0 && !strings.Contains(tt.fp, "comment") {
					t.Fatalf("no rules parsed")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error = %v, want one containing %q", err, tt.err)
			}
		})
	}
	r, _ := ParseRules("", `message:"a # b" -> x # comment`)
	if fr := r.Fingerprint[0]; fr.Matchers[0].Pattern != "a # b" || len(fr.Fingerprint) != 1 || fr.Fingerprint[0] != "x" {
		t.Errorf("comment handling: %+v", fr)
	}
	r, _ = ParseRules("", `tags.server_name:"web-*" level:error -> web, {{ transaction }} title="Web {{ type }}"`)
	fr := r.Fingerprint[0]
	if strings.Join(fr.Fingerprint, "|") != "web|{{ transaction }}" || fr.Attributes["title"] != "Web {{ type }}" {
		t.Errorf("parsed %q %v", fr.Fingerprint, fr.Attributes)
	}
}

func TestFingerprintVariables(t *testing.T) {
	e := normalize(t, []byte(`{"transaction":"GET /x","level":"warning","tags":{"shard":"7"},
		"fingerprint":["{{ transaction }}","{{ type }}","{{ function }}","{{ tags.shard }}","{{ level }}","{{ release }}","x-{{ module }}"],
		"exception":[{"type":"Boom","value":"v","stacktrace":{"frames":[{"function":"f","module":"m","in_app":true}]}}]}`))
	r := Compute(e, nil)
	c := r.Variants[0].Component.Values[0].(*Component)
	var got []string
	for _, v := range c.Values {
		got = append(got, v.(string))
	}
	want := "GET /x|Boom|f|7|warning|<no-release>|x-m"
	if strings.Join(got, "|") != want {
		t.Errorf("expanded = %q, want %q", strings.Join(got, "|"), want)
	}
}

func TestParameterize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"user 42 not found", "user <int> not found"},
		{"took 3.25s", "took <float>s"},
		{"id 6f1c2a9e-5b7d-4c3e-9a1f-2b3c4d5e6f70", "id <uuid>"},
		{"from 10.0.0.1 and ::1 and fe80::1ff:fe23:4567:890a", "from <ip> and <ip> and <ip>"},
		{"mail bob.smith@example.co.uk now", "mail <email> now"},
		{"GET https://api.example.com/v1/users/9?x=1 failed", "GET <url> failed"},
		{"at 2024-05-01T10:00:03.5+02:00 and 2024-05-01 and 10:22:01", "at <datetime> and <date> and <time>"},
		{"on Wed, 01 May 2024 10:00:00 GMT", "on <datetime>"},
		{"ptr 0x7ffd5e2a and sha 3f786850e387550fdab836ed7e6dc881de23001b", "ptr <hex> and sha <sha1>"},
		{"key 'user_id' missing in \"profile\"", "key <quoted> missing in <quoted>"},
		{"deadbeef cafe user42 v2", "deadbeef cafe user42 v2"},
		{"no parameters here", "no parameters here"},
	}
	for _, tt := range tests {
		if got := Parameterize(tt.in); got != tt.want {
			t.Errorf("Parameterize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeFilename(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://app.example.com/static/js/main.3f2a1b9c.js", "/static/js/main.js"},
		{"https://cdn.example.com/assets/app-B2xYz9_q.js?v=20240501#x", "/assets/app.js"},
		{"http://localhost:3000/js/chunk-vendors.5a6b7c8d.js", "/js/chunk-vendors.js"},
		{"https://cdn.example.com/libs/jquery-3.6.0.min.js", "/libs/jquery.min.js"},
		{"https://cdn.example.com/releases/1.4.2/app.js", "/releases/app.js"},
		{"/srv/app/releases/20240501120000/app/models.py", "/srv/app/releases/app/models.py"},
		{"webpack:///./src/components/Widget.tsx", "/src/components/Widget.tsx"},
		{"app:///main.jsbundle", "/main.jsbundle"},
		{`C:\build\src\Program.cs`, "C:/build/src/Program.cs"},
		{"orders/views.py", "orders/views.py"},
		{"/app/lib/runtime-helpers.js", "/app/lib/runtime-helpers.js"},
		{"/app/lib/base64.js", "/app/lib/base64.js"},
	}
	for _, tt := range tests {
		if got := NormalizeFilename(tt.in); got != tt.want {
			t.Errorf("NormalizeFilename(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Golden explanations: every event in testdata/events, explained without
// rules, and go_error.json with testdata/rules.txt.
func TestExplainGolden(t *testing.T) {
	names, _ := filepath.Glob("testdata/events/*.json")
	if len(names) == 0 {
		t.Fatal("no events")
	}
	browsers, _ := filepath.Glob("testdata/browsers/*.json")
	stack, fp := splitRulesFile(t, "testdata/rules.txt")
	rules, err := ParseRules(stack, fp)
	if err != nil {
		t.Fatal(err)
	}
	type run struct {
		event, golden string
		rules         *Rules
	}
	var runs []run
	for _, n := range names {
		base := strings.TrimSuffix(filepath.Base(n), ".json")
		runs = append(runs, run{filepath.Base(n), base + ".json", nil})
	}
	runs = append(runs, run{"go_error.json", "go_error.rules.json", rules}, run{"js_browser.json", "js_browser.rules.json", rules})
	for _, n := range browsers {
		runs = append(runs, run{filepath.Join("..", "browsers", filepath.Base(n)), "browsers_" + filepath.Base(n), nil})
	}
	for _, r := range runs {
		t.Run(r.golden, func(t *testing.T) {
			res := Compute(normalize(t, readEvent(t, r.event)), r.rules)
			got := res.Explain()
			path := filepath.Join("testdata", "explain", r.golden)
			if *update {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("explanation differs from %s (run with -update and review the diff):\n%s", path, got)
			}
		})
	}
}

// splitRulesFile splits a text rules file as the CLI does: lines with "->"
// are fingerprint rules.
func splitRulesFile(t *testing.T, path string) (string, string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stack, fp []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "->") {
			fp, stack = append(fp, l), append(stack, "")
		} else {
			stack, fp = append(stack, l), append(fp, "")
		}
	}
	return strings.Join(stack, "\n"), strings.Join(fp, "\n")
}

func FuzzParseRules(f *testing.F) {
	f.Add("stack.module:foo.* -app\n[ function:a ] | function:b ^-group", `error.type:Timeout -> timeouts`)
	f.Add(`family:javascript stack.abs_path:"**/node_modules/**" -app`, `message:"*timeout*" -> slow, {{ default }} title="x"`)
	f.Add("stack.function:b | [ stack.function:\"c\\\"d\" ] +app category=x max-frames=3", "tags.a:b level:error -> a,b")
	f.Add("[", "->")
	f.Add("", "error.type:x -> title=y z")
	e, err := event.Normalize(readEventFuzz(f, "go_error.json"), testMeta)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, stack, fp string) {
		r, err := ParseRules(stack, fp)
		if err != nil {
			if !strings.Contains(err.Error(), "line ") {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		res := Compute(e, r)
		if len(res.Hashes) == 0 {
			t.Fatalf("no hashes under rules %q / %q", stack, fp)
		}
	})
}

func readEventFuzz(f *testing.F, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "events", name))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

func BenchmarkNormalizeAndCompute(b *testing.B) {
	payload := readEvent(b, "python_chained.json")
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		e, err := event.Normalize(payload, testMeta)
		if err != nil {
			b.Fatal(err)
		}
		if r := Compute(e, nil); len(r.Hashes) == 0 {
			b.Fatal("no hashes")
		}
	}
}

// TestFramePartsCache: frames' parts are shared across events, keyed by
// everything they are built from, and safe to share between goroutines.
func TestFramePartsCache(t *testing.T) {
	norm := func(platform string) *event.Event {
		t.Helper()
		payload := fmt.Sprintf(`{"platform":%q,"exception":[{"type":"E","stacktrace":{"frames":[
			{"function":"handler","abs_path":"<anonymous>","in_app":true},
			{"function":"run","abs_path":"/app/run.js","in_app":true}]}}]}`, platform)
		e, err := event.Normalize([]byte(payload), testMeta)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	fresh := func(e *event.Event) Result {
		partsCache.Lock()
		clear(partsCache.m)
		partsCache.Unlock()
		return Compute(e, nil)
	}
	// The same frame is native code in JavaScript and not in Python: the
	// platform is part of the key.
	for _, p := range []string{"javascript", "python"} {
		want := fresh(norm(p))
		for _, first := range []string{"javascript", "python"} {
			fresh(norm(first))
			if got := Compute(norm(p), nil); !reflect.DeepEqual(got.Hashes, want.Hashes) {
				t.Errorf("%s after %s: hashes %v, alone %v", p, first, got.Hashes, want.Hashes)
			}
		}
	}
	if a, b := fresh(norm("javascript")), fresh(norm("python")); reflect.DeepEqual(a.Hashes, b.Hashes) {
		t.Errorf("a native frame counts in JavaScript: hashes %v", a.Hashes)
	}
	var wg sync.WaitGroup
	want := fresh(norm("javascript")).Hashes
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if got := Compute(norm("javascript"), nil).Hashes; !reflect.DeepEqual(got, want) {
					t.Errorf("concurrent Compute: %v, want %v", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestFramePartsCacheBounded: the cache never holds more than
// maxCachedParts, and keeps most of what it held when it drops some.
func TestFramePartsCacheBounded(t *testing.T) {
	g := newGrouper(&event.Event{Platform: "go"}, nil)
	for i := range maxCachedParts + 100 {
		g.cachedFrameParts(&event.Frame{Function: fmt.Sprintf("f%d", i)})
	}
	partsCache.Lock()
	n := len(partsCache.m)
	partsCache.Unlock()
	if n > maxCachedParts || n < maxCachedParts*3/4 {
		t.Errorf("cache holds %d parts, want between %d and %d", n, maxCachedParts*3/4, maxCachedParts)
	}
}
