package scrub

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

func scrubJSON(t *testing.T, s *Scrubber, in string) (map[string]any, string) {
	t.Helper()
	out, _, err := s.Scrub([]byte(in))
	if err != nil {
		t.Fatalf("Scrub(%s): %v", in, err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	return m, string(out)
}

func TestScrubDefaults(t *testing.T) {
	s := New(Defaults)
	in := `{"event_id":"x","message":"card 4111 1111 1111 1111 declined, retry with Authorization: Bearer abc.def-ghi",` +
		`"request":{"url":"https://shop.example/pay?order=7&api_key=k3y&x=1","query_string":"access_token=tok1&page=2",` +
		`"headers":[["Authorization","Basic dXNlcjpwYXNz"],["Cookie","sessionid=s1"],["Accept","text/html"]],` +
		`"cookies":{"sessionid":"s2","theme":"dark"},"data":{"user":"ann","password":"hunter2","nested":{"db_password":"p2"}},` +
		`"env":{"REMOTE_ADDR":"10.1.2.3"}},` +
		`"extra":{"credentials":{"user":"a","pass":"b"},"count":3,"private_key":"-----BEGIN"},` +
		`"contexts":{"app":{"AWS_SECRET_ACCESS_KEY":"aws1"}},` +
		`"breadcrumbs":{"values":[{"message":"login","data":{"token":"bc1","ai.total_tokens":12}}]},` +
		`"exception":{"values":[{"stacktrace":{"frames":[{"function":"f","vars":{"apiKey":"v1","n":"1"}}]}}]},` +
		`"user":{"ip_address":"10.9.9.9"}}`
	m, out := scrubJSON(t, s, in)
	for _, secret := range []string{"4111", "abc.def", "k3y", "tok1", "dXNlcjpwYXNz", "s1", "s2", "hunter2", "p2",
		`"b"`, "BEGIN", "aws1", "bc1", "v1"} {
		if strings.Contains(strings.SplitN(out, `"_meta"`, 2)[0], secret) {
			t.Errorf("%q survived: %s", secret, out)
		}
	}
	for _, kept := range []string{"text/html", `"ann"`, "order=7", "page=2", "10.1.2.3", "10.9.9.9", `"count":3`, `"ai.total_tokens":12`} {
		if !strings.Contains(out, kept) {
			t.Errorf("%q was scrubbed: %s", kept, out)
		}
	}
	meta, _ := m["_meta"].(map[string]any)
	pw := dig(meta, "request", "data", "password", "")
	if pw == nil {
		t.Fatalf("no _meta for request.data.password: %s", out)
	}
	if got := pw.(map[string]any)["len"]; got != float64(7) {
		t.Errorf("len = %v, want 7", got)
	}
	if rem := pw.(map[string]any)["rem"].([]any)[0].([]any); rem[0] != RulePassword || rem[1] != "s" {
		t.Errorf("rem = %v", rem)
	}
	if dig(meta, "request", "headers", "0", "1", "") == nil || dig(meta, "request", "headers", "2", "1", "") != nil {
		t.Errorf("header pair meta wrong: %v", meta["request"])
	}
	if dig(meta, "message", "") == nil {
		t.Errorf("no meta for message: %s", out)
	}
}

func dig(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

// Identifiers are never taken for card numbers: a Luhn-valid span id of
// 16 digits stays, while the same digits in a message are filtered.
func TestScrubLeavesIdentifiers(t *testing.T) {
	in := `{"event_id":"4111111111111111","contexts":{"trace":{"trace_id":"41111111111111114111111111111111","span_id":"4111111111111111"}},` +
		`"spans":[{"span_id":"4111111111111111","parent_span_id":"4111111111111111","description":"pay 4111111111111111"}]}`
	out, changed, err := New(Defaults).Scrub([]byte(in))
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v: want the description scrubbed", changed, err)
	}
	var got struct {
		EventID  string `json:"event_id"`
		Contexts struct {
			Trace struct {
				TraceID string `json:"trace_id"`
				SpanID  string `json:"span_id"`
			} `json:"trace"`
		} `json:"contexts"`
		Spans []struct {
			SpanID       string `json:"span_id"`
			ParentSpanID string `json:"parent_span_id"`
			Description  string `json:"description"`
		} `json:"spans"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	const card = "4111111111111111"
	if got.EventID != card || got.Contexts.Trace.SpanID != card || got.Contexts.Trace.TraceID != card+card ||
		got.Spans[0].SpanID != card || got.Spans[0].ParentSpanID != card {
		t.Errorf("an identifier was scrubbed: %s", out)
	}
	if strings.Contains(got.Spans[0].Description, card) {
		t.Errorf("the card number in the description stayed: %s", out)
	}
}

func TestScrubSettings(t *testing.T) {
	in := `{"password":"p","mysekret":"m","token":"t","card":"4242424242424242","user":{"ip_address":"1.2.3.4"},"sdk":{"client_ip":"1.2.3.5"}}`
	tests := []struct {
		name     string
		s        Settings
		gone     []string
		kept     []string
		unchange bool
	}{
		{"off", Settings{}, nil, []string{`"p"`, "4242", "1.2.3.4"}, true},
		{"defaults", Defaults, []string{`"p"`, `"t"`, "4242"}, []string{`"m"`, "1.2.3.4"}, false},
		{"no defaults", Settings{DataScrubber: true, SensitiveFields: []string{"sekret"}}, []string{`"m"`, "4242"}, []string{`"p"`, `"t"`}, false},
		{"safe fields", Settings{DataScrubber: true, DataScrubberDefaults: true, SafeFields: []string{"Token"}}, []string{`"p"`}, []string{`"t"`}, false},
		{"ips only", Settings{ScrubIPAddresses: true}, []string{"1.2.3.4", "1.2.3.5"}, []string{`"p"`, "4242"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, changed, err := New(tt.s).Scrub([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			if changed == tt.unchange {
				t.Errorf("changed = %v", changed)
			}
			body := strings.SplitN(string(out), `"_meta"`, 2)[0]
			for _, g := range tt.gone {
				if strings.Contains(body, g) {
					t.Errorf("%s survived: %s", g, out)
				}
			}
			for _, k := range tt.kept {
				if !strings.Contains(body, k) {
					t.Errorf("%s was scrubbed: %s", k, out)
				}
			}
		})
	}
}

func TestScrubUnchangedIsSameSlice(t *testing.T) {
	in := []byte(`{"message":"order 12345 failed","tags":{"route":"/a"},"id":"4c79f60c11214eb38604f4ae0781bfb2"}`)
	out, changed, err := New(Defaults).Scrub(in)
	if err != nil || changed || &out[0] != &in[0] {
		t.Fatalf("changed=%v err=%v: an event without secrets must come back as it is", changed, err)
	}
	if _, _, err := New(Defaults).Scrub([]byte(`{"password":`)); err == nil {
		t.Error("invalid JSON accepted")
	}
	if _, _, err := New(Defaults).Scrub([]byte(`{"password":"x"} {}`)); err == nil {
		t.Error("trailing data accepted")
	}
}

func TestScrubEscapedKey(t *testing.T) {
	_, out := scrubJSON(t, New(Defaults), `{"pass\u0077ord":"hunter2","a":"\u0042earer xyz"}`)
	if strings.Contains(out, "hunter2") || strings.Contains(out, "xyz") {
		t.Errorf("escaped names or values bypassed the scrubber: %s", out)
	}
}

func TestScrubExistingMeta(t *testing.T) {
	_, out := scrubJSON(t, New(Defaults), `{"_meta":{"x":{"":{"len":3}}},"password":"p","z":1}`)
	var m struct {
		Meta map[string]any `json:"_meta"`
	}
	json.Unmarshal([]byte(out), &m)
	if m.Meta["x"] == nil || m.Meta["password"] == nil || strings.Count(out, `"_meta"`) != 1 {
		t.Errorf("meta not merged: %s", out)
	}
	_, out = scrubJSON(t, New(Defaults), `{"password":"p","_meta":{}}`)
	if strings.Count(out, `"_meta"`) != 1 || !strings.Contains(out, `"password":{"":`) {
		t.Errorf("meta after the edit not merged: %s", out)
	}
	_, out = scrubJSON(t, New(Defaults), `{}`)
	if out != `{}` {
		t.Errorf("empty object changed: %s", out)
	}
}

func TestLuhn(t *testing.T) {
	for s, want := range map[string]bool{"4111111111111111": true, "4111 1111 1111 1111": true, "4111111111111112": false,
		"378282246310005": true, "6011-1111-1111-1117": true} {
		if luhn(s) != want {
			t.Errorf("luhn(%s) = %v", s, !want)
		}
	}
	for s, want := range map[string]bool{"x 4111111111111111 y": true, "id4111111111111111": false, "41111111111111110": false,
		"4111-1111-1111-1111": true, "4111--1111-1111-1111": false} {
		if got, _ := filterCards(s); (got != s) != want {
			t.Errorf("filterCards(%q) = %q", s, got)
		}
	}
}

// cardRE is the reference for card numbers in FuzzScrub: maximal runs of
// digits with single separators.
var cardRE = regexp.MustCompile(`[0-9](?:[ -]?[0-9])*`)

func refHasCard(s string) bool {
	for _, loc := range cardRE.FindAllStringIndex(s, -1) {
		run := s[loc[0]:loc[1]]
		n := strings.Count(run, " ") + strings.Count(run, "-")
		digits := len(run) - n
		if digits < 13 || digits > 19 || loc[0] > 0 && wordChar(s[loc[0]-1]) || loc[1] < len(s) && wordChar(s[loc[1]]) {
			continue
		}
		if luhn(run) {
			return true
		}
	}
	return false
}

// checkScrubbed walks v and fails on a value left under a sensitive key or
// a card number left in a string.
func checkScrubbed(t *testing.T, s *Scrubber, v any, key string, top bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if top && k == "_meta" {
				continue
			}
			if s.safe[strings.ToLower(k)] {
				continue
			}
			checkScrubbed(t, s, c, k, false)
		}
	case []any:
		for _, c := range x {
			checkScrubbed(t, s, c, "", false)
		}
	case string:
		if key != "" && s.keyRule(key) != "" && x != "" && x != Filtered {
			t.Fatalf("value %q left under key %q", x, key)
		}
		if refHasCard(x) {
			t.Fatalf("card number left in %q", x)
		}
	}
}

func FuzzScrub(f *testing.F) {
	for _, seed := range []string{
		`{"password":"x","request":{"headers":[["Authorization","Bearer abc"]],"query_string":"token=1&a=2"}}`,
		`{"message":"4111 1111 1111 1111","extra":{"secret":{"a":[1,2]}}}`,
		`{"_meta":{"a":1},"cookie":"a=b","user":{"ip_address":"1.2.3.4"}}`,
		`{"a":"card[number]=4111111111111111; session=abc, Bearer x=="}`,
		`[{"pass\u0077ord":"\u00ff"}]`, `"x"`, `{}`, `{"a":"\xff password=\xfe"}`,
	} {
		f.Add([]byte(seed), false)
	}
	plain := New(Defaults)
	withIP := New(Settings{DataScrubber: true, DataScrubberDefaults: true, ScrubIPAddresses: true,
		SensitiveFields: []string{"ssn"}, SafeFields: []string{"public_token"}})
	f.Fuzz(func(t *testing.T, in []byte, ips bool) {
		s := plain
		if ips {
			s = withIP
		}
		out, changed, err := s.Scrub(in)
		if !json.Valid(in) {
			return // no panic is all an invalid payload is owed
		}
		// The fast path never skips what the full reading would change.
		if !s.mayMatch(in) {
			if _, changed, err := s.rewrite(in); err == nil && changed {
				t.Fatalf("mayMatch said no, but reading it whole changes it: %q", in)
			}
		}
		if err != nil {
			if !bytes.Contains(in, []byte(`\`)) && !deep(in) {
				t.Fatalf("valid JSON refused: %v", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("output is not JSON: %q", out)
		}
		if !changed && !bytes.Equal(out, in) {
			t.Fatal("unchanged output differs from input")
		}
		again, changed2, err := s.Scrub(out)
		if err != nil || changed2 || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent (changed %v, err %v):\n%s\n%s", changed2, err, out, again)
		}
		var v any
		if json.Unmarshal(out, &v) == nil {
			checkScrubbed(t, s, v, "", true)
		}
	})
}

func deep(b []byte) bool { return bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) > 5000 }
