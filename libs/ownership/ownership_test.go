package ownership

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	raw := `# payments own their code
path:src/payments/* #payments Alice@Example.com

url:https://shop.example.com/checkout/* #checkout
tags.service:billing #billing #payments
module:com.example.billing.* bob@example.com
codeowners:src/ui/* #frontend
path:"src/my dir/*" #ui`
	rules, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{
		{2, "path", "src/payments/*", []Owner{{OwnerTeam, "payments"}, {OwnerUser, "alice@example.com"}}},
		{4, "url", "https://shop.example.com/checkout/*", []Owner{{OwnerTeam, "checkout"}}},
		{5, "tags.service", "billing", []Owner{{OwnerTeam, "billing"}, {OwnerTeam, "payments"}}},
		{6, "module", "com.example.billing.*", []Owner{{OwnerUser, "bob@example.com"}}},
		{7, "codeowners", "src/ui/*", []Owner{{OwnerTeam, "frontend"}}},
		{8, "path", "src/my dir/*", []Owner{{OwnerTeam, "ui"}}},
	}
	if !reflect.DeepEqual(rules, want) {
		t.Errorf("got %+v\nwant %+v", rules, want)
	}
	if got := Owners(rules); len(got) != 7 || got[0].String() != "#payments" || got[1].String() != "alice@example.com" {
		t.Errorf("owners %v", got)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tt := range []struct{ raw, msg string }{
		{"path:src/*", "line 1: rule path:src/* has no owner"},
		{"\nfile:src/* #a", "line 2: unknown matcher \"file\""},
		{"path src/* #a", "line 1: want matcher:pattern"},
		{"path:src/* team", "line 1: owner \"team\""},
		{"path:src/* #", "line 1: owner \"#\""},
		{`path:"src/* #a`, "line 1: unterminated"},
		{"tags.:x #a", "unknown matcher"},
		{"path: #a", "empty pattern"},
		{strings.Repeat("x", MaxBytes+1), "longer than"},
	} {
		_, err := Parse(tt.raw)
		var pe *Error
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Parse(%.40q) = %v, want an error containing %q", tt.raw, err, tt.msg)
		}
	}
}

// FuzzParse: any text parses into rules that each have a known matcher, a
// pattern and owners, or is refused with an Error; never a panic.
func FuzzParse(f *testing.F) {
	f.Add("path:src/* #team a@b.c\n# comment\nurl:\"x y\" #t")
	f.Add("tags.k:v #a")
	f.Add(`path:"a\"b\\" #t`)
	f.Fuzz(func(t *testing.T, raw string) {
		rules, err := Parse(raw)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		for _, r := range rules {
			if r.Pattern == "" || len(r.Owners) == 0 || r.Line < 1 {
				t.Fatalf("rule %+v", r)
			}
			if r.Type != MatchPath && r.Type != MatchModule && r.Type != MatchURL && r.Type != MatchCodeowners && !strings.HasPrefix(r.Type, MatchTagPrefix) {
				t.Fatalf("rule type %q", r.Type)
			}
		}
	})
}

func TestMatchLastRuleWins(t *testing.T) {
	rules, err := Parse(`path:src/* #backend
path:src/payments/* #payments
module:com.example.billing.* bob@example.com
url:https://shop.example.com/checkout/* #checkout
tags.service:billing #billing`)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(js string) Subject { return SubjectOf([]byte(js)) }
	for _, c := range []struct {
		name, event, want string
	}{
		{"later path rule wins", `{"exception":{"values":[{"stacktrace":{"frames":[{"filename":"src/payments/charge.go"}]}}]}}`, "#payments"},
		{"earlier rule when the later does not match", `{"exception":{"values":[{"stacktrace":{"frames":[{"abs_path":"/app/src/api/x.go","filename":"src/api/x.go"}]}}]}}`, "#backend"},
		{"module", `{"stacktrace":{"frames":[{"module":"com.example.billing.Invoice"}]}}`, "bob@example.com"},
		{"url, case-insensitive", `{"request":{"url":"https://SHOP.example.com/checkout/pay"}}`, "#checkout"},
		{"tag pairs beat a path above them", `{"tags":[["service","billing"]],"exception":{"values":[{"stacktrace":{"frames":[{"filename":"src/payments/a.go"}]}}]}}`, "#billing"},
		{"tag object", `{"tags":{"service":"billing"}}`, "#billing"},
		{"nothing matches", `{"tags":[["service","search"]],"request":{"url":"https://shop.example.com/cart"}}`, ""},
		{"not JSON", `{`, ""},
	} {
		var got []string
		for _, o := range Match(rules, ev(c.event)) {
			got = append(got, o.String())
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s: owners %q, want %q", c.name, got, c.want)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		p, s string
		ok   bool
	}{
		{"src/*", "src/a/b.go", true}, {"*.py", "app/x.py", true}, {"a?c", "abc", true},
		{"a?c", "ac", false}, {"src/*", "lib/src/a", false}, {"*a*b*", "xxaxxbxx", true}, {"", "", true}, {"", "x", false},
	} {
		if glob(c.p, c.s) != c.ok {
			t.Errorf("glob(%q, %q) = %v", c.p, c.s, !c.ok)
		}
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("path:src/* #a\ntags.x:y* b@c.d", `{"tags":[["x","yz"]],"stacktrace":{"frames":[{"filename":"src/q"}]}}`)
	f.Fuzz(func(t *testing.T, raw, event string) {
		rules, err := Parse(raw)
		if err != nil {
			return
		}
		_ = Match(rules, SubjectOf([]byte(event)))
	})
}
