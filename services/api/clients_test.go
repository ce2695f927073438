package api_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/libs/spike"
	"github.com/faultline/faultline/libs/spike/spiketest"
	"github.com/faultline/faultline/services/api"
	"github.com/faultline/faultline/streams"
)

// TestIndexNamesTheCredentials: GET /api/0/, what sentry-cli info reads,
// names the token's user and the Sentry scopes its scopes grant; without
// credentials auth and user are null; a wrong token is 401.
func TestIndexNamesTheCredentials(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	tok, _ := e.token(f.users["member"], "read", "write")
	var got struct {
		Version string
		Auth    *struct{ Scopes []string }
		User    *struct{ Email string }
	}
	res := e.withToken(tok).do("GET", "/api/0/", nil)
	res.json(t, &got)
	if res.status != 200 || got.Auth == nil || got.User == nil || got.User.Email != "member@example.test" {
		t.Fatalf("with a token: %d %s", res.status, res.body)
	}
	if !slices.Contains(got.Auth.Scopes, "project:write") || !slices.Contains(got.Auth.Scopes, "org:read") ||
		slices.Contains(got.Auth.Scopes, "org:admin") {
		t.Errorf("scopes of a read, write token: %v", got.Auth.Scopes)
	}
	got.Auth, got.User = nil, nil
	res = e.anonymous().do("GET", "/api/0/", nil)
	res.json(t, &got)
	if res.status != 200 || got.Version != "0" || got.Auth != nil || got.User != nil {
		t.Errorf("without credentials: %d %s", res.status, res.body)
	}
	if res := e.withToken("flt_nope").do("GET", "/api/0/", nil); res.status != 401 {
		t.Errorf("with a wrong token: %d %s", res.status, res.body)
	}
}

// TestRepositories: added by name and URL, listed and searched, a name once
// per organisation, bad URLs refused, removed.
func TestRepositories(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	c := e.session(f.users["member"])
	const repos = "/api/0/organizations/acme/repos/"
	for _, body := range []map[string]any{{"name": ""}, {"name": "acme/x", "url": "javascript:alert(1)"}, {"name": strings.Repeat("x", 201)}} {
		if res := c.do("POST", repos, body); res.status != 400 {
			t.Errorf("add %v: %d, want 400", body, res.status)
		}
	}
	res := c.do("POST", repos, map[string]any{"name": "acme/shop", "url": "https://git.example.test/acme/shop"})
	if res.status != 201 {
		t.Fatalf("add: %d %s", res.status, res.body)
	}
	id := res.obj(t)["id"].(string)
	if res := c.do("POST", repos, map[string]any{"name": "acme/shop"}); res.status != 409 {
		t.Errorf("the same name again: %d, want 409", res.status)
	}
	c.do("POST", repos, map[string]any{"name": "acme/blog"})
	var list []struct{ Name, Status string }
	c.do("GET", repos+"?query=sho", nil).json(t, &list)
	if len(list) != 1 || list[0].Name != "acme/shop" || list[0].Status != "active" {
		t.Errorf("search: %+v", list)
	}
	if res := c.do("DELETE", fmt.Sprintf("%s%s/", repos, id), nil); res.status != 204 {
		t.Errorf("remove: %d", res.status)
	}
	list = nil
	c.do("GET", repos, nil).json(t, &list)
	if len(list) != 1 || list[0].Name != "acme/blog" {
		t.Errorf("after the removal: %+v", list)
	}
}

// TestBulkStatusWords: "muted" is Sentry's older word for ignored; a status
// Faultline does not know is 400 even when no issue matches.
func TestBulkStatusWords(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	c := e.session(f.users["member"])
	if res := c.do("PUT", "/api/0/projects/acme/web/issues/", map[string]any{"status": "bogus"}); res.status != 400 {
		t.Errorf("status bogus: %d %s, want 400", res.status, res.body)
	}
	if res := c.do("PUT", "/api/0/projects/acme/web/issues/", map[string]any{"status": "muted", "snoozeDuration": 30}); res.status != 200 {
		t.Errorf("status muted: %d %s", res.status, res.body)
	}
}

// TestSpikeProtectionSwitch: POST/DELETE .../spike-protections/ set the
// project option quotas:spike-protection-disabled, by slug or for $all;
// an unknown slug is 400 and another organisation's member cannot reach
// acme's projects.
func TestSpikeProtectionSwitch(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	c := e.session(f.users["owner"])
	const path = "/api/0/organizations/acme/spike-protections/"
	disabled := func() any {
		var p struct{ Options map[string]any }
		c.do("GET", "/api/0/projects/acme/web/", nil).json(t, &p)
		return p.Options["quotas:spike-protection-disabled"]
	}
	if res := c.do("POST", path, map[string]any{"projects": []string{"web"}}); res.status != 204 {
		t.Fatalf("enable: %d %s", res.status, res.body)
	}
	if d := disabled(); d != false {
		t.Errorf("after enable: option %v, want false", d)
	}
	if res := c.do("DELETE", path, map[string]any{"projects": []string{"$all"}}); res.status != 204 {
		t.Fatalf("disable $all: %d %s", res.status, res.body)
	}
	if d := disabled(); d != true {
		t.Errorf("after disable: option %v, want true", d)
	}
	for _, body := range []map[string]any{{"projects": []string{"nope"}}, {"projects": []string{}}, {"projects": "web"}, {"project": []string{"web"}}} {
		if res := c.do("POST", path, body); res.status != 400 {
			t.Errorf("enable %v: %d, want 400", body, res.status)
		}
	}
	other := e.session(f.users["other"])
	if res := other.do("POST", path, map[string]any{"projects": []string{"$all"}}); res.status < 400 || res.status == 400 {
		t.Errorf("another organisation's member: %d, want 403 or 404", res.status)
	}
	if res := other.do("POST", "/api/0/organizations/rival/spike-protections/", map[string]any{"projects": []string{"web"}}); res.status != 400 {
		t.Errorf("acme's project through rival: %d, want 400", res.status)
	}
	if d := disabled(); d != true {
		t.Errorf("after the other organisation's calls: option %v, want true", d)
	}
}

// TestSpikeProtectionStatus: a project's spike protection reads back the
// gateways' counts from the limits bucket: its baseline, cap, this
// minute's errors and drops; with the switch off it says so.
func TestSpikeProtectionStatus(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	c := e.session(f.users["owner"])
	const path = "/api/0/projects/acme/web/spike-protection/"
	var got api.SpikeProtectionStatus
	if c.do("GET", path, nil).json(t, &got); got != (api.SpikeProtectionStatus{}) {
		t.Errorf("before the counts can be read: %+v, want nothing", got)
	}

	ctx := context.Background()
	kv, err := e.nc.JS.CreateOrUpdateKeyValue(ctx, streams.LimitsConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	cfg, now := spiketest.Days()
	spiketest.Put(t, kv, f.project.ID, "gw1", spike.Record{First: now - 9, Counts: []spike.Count{{Minute: now - 1, Admitted: 15}, {Minute: now, Admitted: 50, Dropped: 8}}})
	e.api.SetSpikes(kv, cfg)
	want := api.SpikeProtectionStatus{Enabled: true, Counted: true, WindowMinutes: 5, HasBaseline: true, BaselinePerMinute: 3,
		CapPerMinute: 30, CurrentMinute: 50, DroppedInWindow: 8}
	if c.do("GET", path, nil).json(t, &got); got != want {
		t.Errorf("status:\n got %+v\nwant %+v", got, want)
	}
	if res := c.do("DELETE", "/api/0/organizations/acme/spike-protections/", map[string]any{"projects": []string{"web"}}); res.status != 204 {
		t.Fatalf("disable: %d %s", res.status, res.body)
	}
	if c.do("GET", path, nil).json(t, &got); got.Enabled || got.CapPerMinute != 30 {
		t.Errorf("with the switch off: %+v, want enabled false and the counts still shown", got)
	}
	if res := e.session(f.users["other"]).do("GET", path, nil); res.status != 403 && res.status != 404 {
		t.Errorf("another organisation's member: %d, want 403 or 404", res.status)
	}
}
