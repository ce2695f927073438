package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/accounts"
)

// TestKeyFormRateLimit: the key form sets Sentry's rate limit {count,
// window} with any window from a minute to a day, through the store as the
// API's rateLimit does: the API reads it back, the gateway enforces it, a
// window set through the API is shown and kept, a window out of range or
// not a number is refused with its reason and changes nothing, and a count
// of 0 removes the limit.
func TestKeyFormRateLimit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner := e.user("owner@acme.test", false)
	viewer := e.user("viewer@acme.test", false)
	p := e.project("acme", "web", map[*accounts.User]string{owner: "owner", viewer: "viewer"})
	key := p.Keys[0].PublicKey
	_, tok, err := e.store.CreateToken(ctx, accounts.NewToken{UserID: owner.ID, Scopes: []string{"project:read", "project:write"}})
	if err != nil {
		t.Fatal(err)
	}
	const path = "/settings/acme/projects/web/"
	kpath := path + "keys/" + key + "/"
	apiKey := "/api/0/projects/acme/web/keys/" + key + "/"
	type limit struct{ Count, Window int64 }
	readLimit := func() *limit {
		t.Helper()
		var k struct {
			RateLimit *limit `json:"rateLimit"`
		}
		if err := json.Unmarshal(e.apiCall(tok, "GET", apiKey, ""), &k); err != nil {
			t.Fatal(err)
		}
		return k.RateLimit
	}
	gw := e.startGateway()
	b := e.signIn("owner@acme.test")
	save := func(count, window string) page {
		t.Helper()
		return b.submit(path, kpath, url.Values{"action": {"save"}, "label": {"Default"},
			"rate_limit_count": {count}, "rate_limit_window": {window}})
	}

	if r := save("2", "21600"); r.status != http.StatusSeeOther {
		t.Fatalf("save 2 per 6 hours: %d\n%s", r.status, r.body)
	}
	if got := readLimit(); got == nil || *got != (limit{2, 21600}) {
		t.Fatalf("the API reads rateLimit %+v, want 2 per 21600 s", got)
	}
	form := b.get(path).body
	for _, want := range []string{`name="rate_limit_count" type="number" min="0" max="1099511627776" placeholder="none" value="2"`,
		`<option value="21600" selected>6 hours</option>`, `<option value="86400">1 day</option>`} {
		if !strings.Contains(form, want) {
			t.Errorf("the key form lacks %s", want)
		}
	}

	// The gateway learns the limit through the key bucket and refuses the
	// third event of the window.
	e.syncKeys()
	accepted, refused := 0, false
	for deadline := time.Now().Add(30 * time.Second); !refused && time.Now().Before(deadline); {
		req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/%d/store/", gw, p.ID), strings.NewReader(`{"message":"limited"}`))
		req.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_key="+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		switch res.StatusCode {
		case http.StatusOK:
			accepted++
		case http.StatusTooManyRequests:
			refused = true
			if res.Header.Get("X-Sentry-Rate-Limits") == "" {
				t.Error("the 429 has no X-Sentry-Rate-Limits")
			}
		default:
			t.Fatalf("gateway answered %d", res.StatusCode)
		}
	}
	if !refused || accepted < 2 {
		t.Errorf("gateway accepted %d events and refused one: %v; want 2 or more accepted (the cache catches up), then 429", accepted, refused)
	}

	for _, bad := range []struct{ count, window, why string }{
		{"5", "59", "rate limit window: want 60 to 86400 seconds"},
		{"5", "86401", "rate limit window: want 60 to 86400 seconds"},
		{"5", "a day", "rate limit window: want 60 to 86400 seconds"},
		{"5", "", "rate limit window: want 60 to 86400 seconds"},
		{"-1", "60", "rate limit count: want a whole number of 0 or more"},
		{"<b>", "60", "rate limit count: want a whole number of 0 or more"},
	} {
		r := save(bad.count, bad.window)
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, bad.why) {
			t.Errorf("save %q per %q: %d, want 400 saying %q\n%.400s", bad.count, bad.window, r.status, bad.why, r.body)
		}
		if strings.Contains(r.body, "<b>") {
			t.Error("the refusal echoes markup unescaped")
		}
	}
	if got := readLimit(); got == nil || *got != (limit{2, 21600}) {
		t.Errorf("after refused saves the API reads %+v, want 2 per 21600 s unchanged", got)
	}

	// A window the form does not list, set through the API, is shown
	// selected and survives a save of the form.
	e.apiCall(tok, "PUT", apiKey, `{"rateLimit":{"count":7,"window":5400}}`)
	if form := b.get(path).body; !strings.Contains(form, `<option value="5400" selected>90 minutes</option>`) {
		t.Error("the form does not show the API's 5400 s window")
	}
	if v := e.signIn("viewer@acme.test").get(path).body; !strings.Contains(v, "Rate limit: 7 events per 90 minutes.") {
		t.Error("the viewer is not shown the key's limit")
	}
	if r := save("9", "5400"); r.status != http.StatusSeeOther {
		t.Fatalf("save 9 per 5400 s: %d", r.status)
	}
	if got := readLimit(); got == nil || *got != (limit{9, 5400}) {
		t.Errorf("the API reads %+v, want 9 per 5400 s", got)
	}
	if r := save("0", "3600"); r.status != http.StatusSeeOther {
		t.Fatalf("save no limit: %d", r.status)
	}
	if got := readLimit(); got != nil {
		t.Errorf("a count of 0 left rateLimit %+v, want none", got)
	}

	// Faultline's per-minute and per-hour pair, set through the API: the
	// form says saving replaces them, and saving does.
	e.apiCall(tok, "PUT", apiKey, `{"rateLimits":{"perMinute":5,"perHour":50}}`)
	if form := b.get(path).body; !strings.Contains(form, "This key also has limits set through the API (5 per minute, 50 per hour") {
		t.Error("the form does not say the key has more limits than it shows")
	}
	if r := save("4", "60"); r.status != http.StatusSeeOther {
		t.Fatalf("save 4 per minute: %d", r.status)
	}
	var k struct {
		RateLimit  *limit
		RateLimits struct{ PerMinute, PerHour int64 }
	}
	if err := json.Unmarshal(e.apiCall(tok, "GET", apiKey, ""), &k); err != nil {
		t.Fatal(err)
	}
	if k.RateLimit == nil || *k.RateLimit != (limit{4, 60}) || k.RateLimits.PerMinute != 0 || k.RateLimits.PerHour != 0 {
		t.Errorf("after saving 4 per minute: rateLimit %+v, rateLimits %+v; want 4 per 60 s and no others", k.RateLimit, k.RateLimits)
	}
}
