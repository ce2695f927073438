package deploy

import (
	"context"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// roles are the Faultline roles that run as services of their own.
var roles = []string{"gateway", "grouping", "api", "web", "alerting", "sourcemaps", "analytics"}

var natsNodes = []string{"nats1", "nats2", "nats3"}

const testSecret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// loadCompose loads ../compose.yaml as `docker compose` would: schema
// validation, interpolation, anchors, merges and profiles.
func loadCompose(t *testing.T, env []string, profiles ...string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join("..", "compose.yaml")},
		cli.WithWorkingDirectory(".."), cli.WithEnv(env), cli.WithProfiles(profiles), cli.WithConsistency(true))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

func TestComposeNeedsSessionSecret(t *testing.T) {
	_, err := loadCompose(t, nil)
	if err == nil || !strings.Contains(err.Error(), "SESSION_SECRET_KEY") {
		t.Fatalf("loading without SESSION_SECRET_KEY: err = %v, want one naming it", err)
	}
}

func TestComposeProfiles(t *testing.T) {
	p, err := loadCompose(t, []string{"SESSION_SECRET_KEY=" + testSecret})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"clickhouse", "analytics"} {
		if _, ok := p.Services[name]; ok {
			t.Errorf("%s runs without the analytics profile", name)
		}
		if _, ok := p.DisabledServices[name]; !ok {
			t.Errorf("%s is not a disabled service without the analytics profile", name)
		}
	}
	for _, name := range append(slices.Clone(natsNodes), "postgres", "proxy", "gateway", "grouping", "api", "web", "alerting", "sourcemaps") {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("service %s missing without profiles", name)
		}
	}
}

func TestCompose(t *testing.T) {
	p, err := loadCompose(t, []string{"SESSION_SECRET_KEY=" + testSecret}, "analytics")
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range p.Services {
		if s.Restart != types.RestartPolicyUnlessStopped && s.Restart != types.RestartPolicyAlways {
			t.Errorf("%s: restart %q, want unless-stopped or always", name, s.Restart)
		}
		if s.HealthCheck == nil || len(s.HealthCheck.Test) < 2 || s.HealthCheck.Disable {
			t.Errorf("%s: no health check", name)
		}
		for dep, d := range s.DependsOn {
			if _, ok := p.Services[dep]; !ok {
				t.Errorf("%s depends on unknown %s", name, dep)
			}
			if d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s waits for %s to be %q, want healthy", name, dep, d.Condition)
			}
		}
		if name != "proxy" && len(s.Ports) > 0 {
			t.Errorf("%s publishes ports %v; only the proxy should", name, s.Ports)
		}
	}

	proxyIP := netip.MustParseAddr(p.Services["proxy"].Networks["faultline"].Ipv4Address)
	for _, role := range roles {
		s, ok := p.Services[role]
		if !ok {
			t.Errorf("role %s has no service", role)
			continue
		}
		if !slices.Equal([]string(s.Command), []string{role}) {
			t.Errorf("%s: command %q, want [%s]", role, s.Command, role)
		}
		if s.Build == nil || s.Build.Dockerfile != "deploy/Dockerfile" {
			t.Errorf("%s: not built from deploy/Dockerfile", role)
		}
		// The image has no shell: the check is the binary itself, on /readyz.
		want := []string{"CMD", "/usr/local/bin/faultline", "healthcheck", "http://127.0.0.1:8080/readyz"}
		if !slices.Equal([]string(s.HealthCheck.Test), want) {
			t.Errorf("%s: healthcheck %q, want %q", role, s.HealthCheck.Test, want)
		}
		env := func(k string) string {
			if v := s.Environment[k]; v != nil {
				return *v
			}
			return ""
		}
		var hosts []string
		for _, u := range strings.Split(env("NATS_URL"), ",") {
			pu, err := url.Parse(u)
			if err != nil || pu.Scheme != "nats" || pu.Port() != "4222" {
				t.Errorf("%s: NATS_URL entry %q", role, u)
				continue
			}
			hosts = append(hosts, pu.Hostname())
		}
		if !slices.Equal(hosts, natsNodes) {
			t.Errorf("%s: NATS_URL names %v, want every node %v", role, hosts, natsNodes)
		}
		if env("INGEST_REPLICAS") != "3" {
			t.Errorf("%s: INGEST_REPLICAS=%q, want 3", role, env("INGEST_REPLICAS"))
		}
		if env("SESSION_SECRET_KEY") != testSecret {
			t.Errorf("%s: SESSION_SECRET_KEY not from the environment", role)
		}
		if du, err := url.Parse(env("DATABASE_URL")); err != nil || du.Hostname() != "postgres" {
			t.Errorf("%s: DATABASE_URL %q does not point at the postgres service", role, env("DATABASE_URL"))
		}
		trusted := false
		for _, c := range strings.Split(env("TRUSTED_PROXIES"), ",") {
			if pfx, err := netip.ParsePrefix(strings.TrimSpace(c)); err == nil && pfx.Contains(proxyIP) {
				trusted = true
			}
		}
		if !trusted {
			t.Errorf("%s: TRUSTED_PROXIES %q does not hold the proxy's %s", role, env("TRUSTED_PROXIES"), proxyIP)
		}
		needsNATS := 0
		for _, n := range natsNodes {
			if _, ok := s.DependsOn[n]; ok {
				needsNATS++
			}
		}
		if needsNATS != len(natsNodes) {
			t.Errorf("%s waits for %d of the NATS nodes", role, needsNATS)
		}
		if _, ok := s.DependsOn["postgres"]; !ok && role != "gateway" {
			t.Errorf("%s does not wait for postgres", role)
		}
	}
	if _, ok := p.Services["gateway"].DependsOn["postgres"]; ok {
		t.Error("the gateway waits for postgres; ingestion must work while it is down")
	}
	an := p.Services["analytics"]
	if !slices.Contains(an.Profiles, "analytics") || !slices.Contains(p.Services["clickhouse"].Profiles, "analytics") {
		t.Error("analytics and clickhouse are not under the analytics profile")
	}
	if ch := an.Environment["CLICKHOUSE_URL"]; ch == nil || !strings.Contains(*ch, "clickhouse:") {
		t.Errorf("analytics: CLICKHOUSE_URL = %v", ch)
	}
	if v := p.Services["grouping"].Environment["CLICKHOUSE_URL"]; v != nil {
		t.Error("CLICKHOUSE_URL leaks to other roles")
	}

	// Three JetStream nodes in one cluster, each routing to all three.
	for _, n := range natsNodes {
		args := []string(p.Services[n].Command)
		flag := func(name string) string {
			if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
				return args[i+1]
			}
			return ""
		}
		if !slices.Contains(args, "-js") || flag("--cluster_name") != "faultline" || flag("--name") != n {
			t.Errorf("%s: command %q, want -js, --cluster_name faultline, --name %s", n, args, n)
		}
		var routes []string
		for _, r := range strings.Split(flag("--routes"), ",") {
			u, err := url.Parse(r)
			if err != nil || u.Port() != "6222" {
				t.Errorf("%s: route %q", n, r)
				continue
			}
			routes = append(routes, u.Hostname())
		}
		if !slices.Equal(routes, natsNodes) {
			t.Errorf("%s routes to %v, want %v", n, routes, natsNodes)
		}
		if !strings.HasSuffix(flag("--cluster"), ":6222") || flag("-sd") == "" {
			t.Errorf("%s: cluster listen %q, store %q", n, flag("--cluster"), flag("-sd"))
		}
		if len(p.Services[n].Volumes) != 1 || p.Services[n].Volumes[0].Target != flag("-sd") {
			t.Errorf("%s: its store directory is not a volume", n)
		}
	}

	proxy := p.Services["proxy"]
	if len(proxy.Ports) != 1 || proxy.Ports[0].Target != 8080 {
		t.Errorf("proxy ports %+v, want 8080", proxy.Ports)
	}
	mounted := false
	for _, v := range proxy.Volumes {
		if strings.HasSuffix(v.Source, filepath.Join("deploy", "caddy.json")) && slices.Contains([]string(proxy.Command), v.Target) {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("proxy does not run with deploy/caddy.json: command %q, volumes %+v", proxy.Command, proxy.Volumes)
	}
}
