package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// caddyConfig is the part of Caddy's JSON config deploy/caddy.json uses.
// Unknown fields fail the decoding, so a typo cannot hide.
type caddyConfig struct {
	Admin struct {
		Disabled bool `json:"disabled"`
	} `json:"admin"`
	Apps struct {
		HTTP struct {
			Servers map[string]struct {
				Listen         []string `json:"listen"`
				AutomaticHTTPS struct {
					Disable bool `json:"disable"`
				} `json:"automatic_https"`
				Routes []caddyRoute `json:"routes"`
			} `json:"servers"`
		} `json:"http"`
	} `json:"apps"`
}

type caddyRoute struct {
	Match []struct {
		Path       []string `json:"path"`
		PathRegexp *struct {
			Name    string `json:"name"`
			Pattern string `json:"pattern"`
		} `json:"path_regexp"`
	} `json:"match"`
	Handle []struct {
		Handler          string `json:"handler"`
		StatusCode       int    `json:"status_code"`
		DynamicUpstreams *struct {
			Source  string `json:"source"`
			Name    string `json:"name"`
			Port    string `json:"port"`
			Refresh string `json:"refresh"`
		} `json:"dynamic_upstreams"`
		LoadBalancing *struct {
			SelectionPolicy struct {
				Policy string `json:"policy"`
			} `json:"selection_policy"`
			Retries int `json:"retries"`
		} `json:"load_balancing"`
	} `json:"handle"`
	Terminal bool `json:"terminal"`
}

// matchPath is Caddy's path matcher: exact, or a prefix before a final *.
func matchPath(pattern, path string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(path, p)
	}
	return path == pattern
}

// route answers where the proxy sends path: a service name, or "404".
func (r caddyRoute) matches(t *testing.T, path string) bool {
	if len(r.Match) == 0 {
		return true
	}
	for _, m := range r.Match { // matcher sets are ORed, matchers in a set ANDed
		ok := true
		if len(m.Path) > 0 {
			any := false
			for _, p := range m.Path {
				any = any || matchPath(p, path)
			}
			ok = ok && any
		}
		if m.PathRegexp != nil {
			ok = ok && regexp.MustCompile(m.PathRegexp.Pattern).MatchString(path)
		}
		if ok {
			return true
		}
	}
	return false
}

func TestProxyRoutes(t *testing.T) {
	b, err := os.ReadFile("caddy.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var cfg caddyConfig
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("caddy.json: %v", err)
	}
	if !cfg.Admin.Disabled {
		t.Error("Caddy's admin API is on")
	}
	srv, ok := cfg.Apps.HTTP.Servers["faultline"]
	if !ok || len(srv.Listen) != 1 || srv.Listen[0] != ":8080" {
		t.Fatalf("server faultline on :8080 missing: %+v", cfg.Apps.HTTP.Servers)
	}
	route := func(path string) string {
		for _, r := range srv.Routes {
			if !r.matches(t, path) {
				continue
			}
			if !r.Terminal || len(r.Handle) != 1 {
				t.Fatalf("route for %s is not one terminal handler", path)
			}
			h := r.Handle[0]
			switch h.Handler {
			case "static_response":
				return "404"
			case "reverse_proxy":
				if h.DynamicUpstreams == nil || h.DynamicUpstreams.Source != "a" || h.DynamicUpstreams.Port != "8080" {
					t.Fatalf("route for %s: upstreams are not every replica of a service on 8080", path)
				}
				return h.DynamicUpstreams.Name
			}
			t.Fatalf("route for %s: handler %q", path, h.Handler)
		}
		return "nothing"
	}
	for _, c := range []struct{ path, want string }{
		{"/api/1/envelope/", "gateway"},
		{"/api/42/store/", "gateway"},
		{"/api/9001/security/", "gateway"},
		{"/api/0/envelope/", "gateway"}, // project 0 is not special to the gateway
		{"/api/0/projects/", "api"},
		{"/api/0/organizations/acme/issues/", "api"},
		{"/api/1/minidump/", "gateway"},
		{"/api/1/unreal/0123abcd/", "gateway"},
		{"/api/1/unreal/", "web"},
		{"/js-sdk-loader/0123abcd.min.js", "gateway"},
		{"/js-sdk-loader/0123abcd.js", "gateway"},
		{"/js-sdk-loader/../etc.js", "web"},
		{"/api/x/envelope/", "web"},
		{"/api/1/envelope/extra", "web"},
		{"/", "web"},
		{"/organizations/acme/issues/", "web"},
		{"/healthz", "web"},
		{"/metrics", "404"},
		{"/metrics/", "404"},
		{"/debug/pprof/", "404"},
	} {
		if got := route(c.path); got != c.want {
			t.Errorf("%s goes to %s, want %s", c.path, got, c.want)
		}
	}
}
