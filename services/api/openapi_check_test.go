package api_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/faultline/faultline/services/api"
)

// answerChecker validates the API's JSON answers against the response
// schema of their route and status in the generated OpenAPI document, so
// that the document and the server cannot drift: every answer the API
// tests receive through client.do passes through it.
type answerChecker struct {
	mu       sync.Mutex
	routes   []checkedRoute
	compiler *jsonschema.Compiler
	doc      map[string]map[string]map[string]json.RawMessage // path → method → status → response object
	schemas  map[string]*jsonschema.Schema                    // "path method status" → schema
	checked  map[string]bool                                  // "METHOD path" → an answer was validated
}

type checkedRoute struct {
	method, path string
	match        *regexp.Regexp
	params       int
}

// docURL is the name the document is known by to the schema compiler.
const docURL = "https://faultline.invalid/openapi.json"

func newAnswerChecker(a *api.API) (*answerChecker, error) {
	b, err := json.Marshal(a.OpenAPI())
	if err != nil {
		return nil, err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020) // OpenAPI 3.1's schema dialect
	c.AssertFormat()
	if err := c.AddResource(docURL, v); err != nil {
		return nil, err
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	ac := &answerChecker{compiler: c, schemas: map[string]*jsonschema.Schema{}, checked: map[string]bool{},
		doc: map[string]map[string]map[string]json.RawMessage{}}
	for path, ops := range doc.Paths {
		ac.doc[path] = map[string]map[string]json.RawMessage{}
		for method, op := range ops {
			ac.doc[path][method] = op.Responses
		}
	}
	param := regexp.MustCompile(`\\\{[a-z_]+\\\}`)
	for _, rt := range a.Routes() {
		expr := param.ReplaceAllString(regexp.QuoteMeta(rt.Path), `[^/]+`)
		ac.routes = append(ac.routes, checkedRoute{method: rt.Method, path: rt.Path,
			match: regexp.MustCompile("^" + expr + "$"), params: strings.Count(rt.Path, "{")})
	}
	return ac, nil
}

// route is the route that serves method on path: the one with the fewest
// parameters when several match (a literal segment wins over {org}).
func (ac *answerChecker) route(method, path string) *checkedRoute {
	var best *checkedRoute
	for i := range ac.routes {
		rt := &ac.routes[i]
		if rt.method == method && rt.match.MatchString(path) && (best == nil || rt.params < best.params) {
			best = rt
		}
	}
	return best
}

// check validates one answer; nil when it matches the document, or when no
// route serves the request (the router's own 404). A 2xx answer must be a
// status the document lists for its route, with the body it declares (JSON
// or none); only such answers count as the route's validated answer. Other
// answers are checked when they are JSON.
func (ac *answerChecker) check(method, rawPath string, status int, contentType string, body []byte) error {
	u, err := url.Parse(rawPath)
	if err != nil {
		return nil
	}
	rt := ac.route(method, u.Path)
	if rt == nil {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	isJSON := mt == "application/json" && len(bytes.TrimSpace(body)) > 0
	success := status >= 200 && status < 300
	if !isJSON && !success {
		return nil
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	op := strings.ToLower(method)
	resp, ok := ac.doc[rt.path][op][strconv.Itoa(status)]
	if !ok {
		return fmt.Errorf("%s %s answered %d, a status the OpenAPI document does not list for %s %s: %.300s", method, rawPath, status, method, rt.path, body)
	}
	var declared struct {
		Content map[string]json.RawMessage `json:"content"`
	}
	json.Unmarshal(resp, &declared)
	switch {
	case !isJSON && len(declared.Content) > 0:
		return fmt.Errorf("%s %s answered %d with %q and %d bytes; the OpenAPI document declares a JSON body for %s %s", method, rawPath, status, contentType, len(body), method, rt.path)
	case !isJSON && len(body) > 0:
		return fmt.Errorf("%s %s answered %d with a %q body the OpenAPI document does not declare for %s %s", method, rawPath, status, contentType, method, rt.path)
	case !isJSON:
		ac.checked[method+" "+rt.path] = true
		return nil
	case declared.Content["application/json"] == nil:
		return fmt.Errorf("%s %s answered %d with a JSON body the OpenAPI document does not declare for %s %s: %.300s", method, rawPath, status, method, rt.path, body)
	}
	key := rt.path + " " + op + " " + strconv.Itoa(status)
	sch := ac.schemas[key]
	if sch == nil {
		ptr := "/paths/" + pointerToken(rt.path) + "/" + op + "/responses/" + strconv.Itoa(status) + "/content/application~1json/schema"
		if sch, err = ac.compiler.Compile(docURL + "#" + ptr); err != nil {
			return fmt.Errorf("compile the schema of %s %s %d: %w", method, rt.path, status, err)
		}
		ac.schemas[key] = sch
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s %s answered %d with invalid JSON: %v", method, rawPath, status, err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("%s %s answered %d with a body that does not match the OpenAPI document (%s %s): %v\nbody: %.600s", method, rawPath, status, method, rt.path, err, body)
	}
	if success {
		ac.checked[method+" "+rt.path] = true
	}
	return nil
}

// pointerToken escapes s as one JSON Pointer token.
func pointerToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// unchecked lists the routes none of whose 2xx answers was validated.
func (ac *answerChecker) unchecked() []string {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	var out []string
	for _, rt := range ac.routes {
		if !ac.checked[rt.method+" "+rt.path] {
			out = append(out, rt.method+" "+rt.path)
		}
	}
	slices.Sort(out)
	return out
}

// answers is the test binary's checker, made with the first test API.
var answers struct {
	once sync.Once
	c    *answerChecker
	err  error
}

// checkAnswer validates an answer the API gave a test, failing the test on
// a mismatch with the OpenAPI document.
func (e *restEnv) checkAnswer(method, path string, res response) {
	e.t.Helper()
	answers.once.Do(func() { answers.c, answers.err = newAnswerChecker(e.api) })
	if answers.err != nil {
		e.t.Fatalf("OpenAPI answer checker: %v", answers.err)
	}
	if err := answers.c.check(method, path, res.status, res.header.Get("Content-Type"), res.body); err != nil {
		e.t.Error(err)
	}
}

// reportUnchecked writes which routes no test validated a 2xx answer of
// against the document, and reports false when there are any and the
// whole package ran: every route must have one. Under -run or -skip only
// the count is written (and the list with -v).
func reportUnchecked(w io.Writer) bool {
	if answers.c == nil {
		return true
	}
	missing := answers.c.unchecked()
	fmt.Fprintf(w, "openapi: 2xx answers of %d of %d routes validated against the document\n", len(answers.c.routes)-len(missing), len(answers.c.routes))
	filtered := false
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			filtered = true
		}
	}
	if filtered && !testing.Verbose() {
		return true
	}
	ok := true
	for _, r := range missing {
		if awaitingTest[r] {
			fmt.Fprintf(w, "openapi: no validated 2xx answer yet (awaitingTest): %s\n", r)
			continue
		}
		fmt.Fprintf(w, "openapi: no validated 2xx answer: %s\n", r)
		ok = false
	}
	for r := range awaitingTest {
		if !slices.Contains(missing, r) && slices.ContainsFunc(answers.c.routes, func(rt checkedRoute) bool { return rt.method+" "+rt.path == r }) {
			fmt.Fprintf(w, "openapi: %s has a validated 2xx answer now: take it out of awaitingTest\n", r)
			ok = false
		}
	}
	if !filtered && !ok {
		fmt.Fprintln(w, "FAIL: every route needs a test that gets a 2xx answer of it validated against the OpenAPI document")
		return false
	}
	return true
}

// awaitingTest lists the routes no test gets a 2xx answer of yet. It only
// shrinks: a route missing from the tests and from here, or listed here
// and tested, fails a run of the whole package.
var awaitingTest = map[string]bool{}

// TestAnswerCheckerCatchesDrift: the checker refuses answers that do not
// match the document (a wrong type, a missing required field, a status the
// route does not list, JSON where none is declared) and accepts one that
// does, so a drift between server and document fails the tests.
func TestAnswerCheckerCatchesDrift(t *testing.T) {
	a, err := api.New(api.Options{PublicURL: "http://localhost:8080"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ac, err := newAnswerChecker(a)
	if err != nil {
		t.Fatal(err)
	}
	const org = `{"id":"1","slug":"acme","name":"Acme","dateCreated":"2026-01-02T03:04:05Z"}`
	tests := []struct {
		name, method, path string
		status             int
		body               string
		ok                 bool
	}{
		{"a matching organisation", "GET", "/api/0/organizations/acme/", 200, org, true},
		{"a list of them", "GET", "/api/0/organizations/?cursor=x", 200, "[" + org + "]", true},
		{"id as a number", "GET", "/api/0/organizations/acme/", 200, `{"id":1,"slug":"acme","name":"Acme"}`, false},
		{"name missing", "GET", "/api/0/organizations/acme/", 200, `{"id":"1","slug":"acme"}`, false},
		{"a date that is not one", "GET", "/api/0/organizations/acme/", 200, `{"id":"1","slug":"acme","name":"Acme","dateCreated":"yesterday"}`, false},
		{"an object for a list", "GET", "/api/0/organizations/", 200, org, false},
		{"an error without detail", "GET", "/api/0/organizations/acme/", 404, `{"error":"gone"}`, false},
		{"a status not listed", "GET", "/api/0/organizations/acme/", 418, `{"detail":"teapot"}`, false},
		{"JSON where none is declared", "DELETE", "/api/0/organizations/acme/", 204, `{}`, false},
		{"a key with a wrong dsn", "GET", "/api/0/projects/acme/web/keys/abc/", 200, `{"id":"abc","public":"abc","dsn":"https://abc@x/1"}`, false},
		{"no body where JSON is declared", "GET", "/api/0/organizations/acme/", 200, ``, false},
		{"HTML where JSON is declared", "GET", "/api/0/organizations/acme/", 200, `<html>`, false},
		{"a 204 without a body", "DELETE", "/api/0/organizations/acme/", 204, ``, true},
		{"an error of the project list", "GET", "/api/0/projects/", 401, `{"detail":"no"}`, true},
		{"no route: the router's 404", "GET", "/api/0/nowhere/", 404, `{"detail":"x"}`, true},
		{"not JSON, not a success", "GET", "/api/0/organizations/acme/", 404, `<html>`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := "application/json"
			if tt.body == "<html>" {
				ct = "text/html"
			}
			err := ac.check(tt.method, tt.path, tt.status, ct, []byte(tt.body))
			if tt.ok && err != nil {
				t.Errorf("refused a matching answer: %v", err)
			}
			if !tt.ok && err == nil {
				t.Errorf("accepted %s %s %d %s", tt.method, tt.path, tt.status, tt.body)
			}
		})
	}
	// A 2xx answer counts, JSON or none; an error answer does not.
	if got := ac.unchecked(); slices.Contains(got, "GET /api/0/organizations/{org}/") || slices.Contains(got, "DELETE /api/0/organizations/{org}/") ||
		!slices.Contains(got, "GET /api/0/projects/") {
		t.Errorf("unchecked routes = %v, want the organisation's GET and DELETE validated and the project list not", got)
	}
}
