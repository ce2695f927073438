// Package terraform drives go-sentry, the Go client of Sentry's Terraform
// provider, through every resource the provider manages that Faultline
// serves: each write is read back, and a second identical write must change
// nothing, as `terraform plan` expects of a converged state.
package terraform

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	sentrygo "github.com/getsentry/sentry-go"
	"github.com/jianyuan/go-sentry/v2/sentry"

	"github.com/faultline/faultline/e2e/harness"
)

var srv *harness.Server

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, harness.Options{Env: map[string]string{"ALLOW_ORG_CREATION": "all"}}, &srv))
}

// bearer adds the API token to every request, as the provider does.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// client signs up an owner with a token of every scope and returns a
// go-sentry client for it, and the token.
func client(t *testing.T) (*sentry.Client, string) {
	t.Helper()
	ctx := context.Background()
	email := "terraform@example.test"
	if out, err := srv.Run(ctx, "user", "create", "--email", email, "--password", "correct horse battery", "--org", "seed", "--role", "owner"); err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	out, err := srv.Run(ctx, "token", "create", "--user", email, "--scopes", "read,write,admin")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	token := strings.TrimSpace(lines[len(lines)-1])
	c, err := sentry.NewOnPremiseClient(srv.URL+"/api/", &http.Client{Transport: bearer{token}, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c, token
}

// must fails the test on err, naming what was done.
func must[T any](t *testing.T, what string) func(v T, _ *sentry.Response, err error) T {
	return func(v T, _ *sentry.Response, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

// same fails the test when the two answers differ, as a plan would show.
func same(t *testing.T, what string, a, b any) {
	t.Helper()
	if !reflect.DeepEqual(a, b) {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		t.Errorf("%s differ:\n first %s\nsecond %s", what, ja, jb)
	}
}

func TestEveryProviderResource(t *testing.T) {
	ctx := context.Background()
	c, token := client(t)

	// sentry_organization
	org := must[*sentry.Organization](t, "create organization")(c.Organizations.Create(ctx, &sentry.CreateOrganizationParams{Name: sentry.String("Terraform"), Slug: sentry.String("tf")}))
	const o = "tf"
	orgParams := &sentry.UpdateOrganizationParams{Name: sentry.String("Terraform Inc")}
	first := must[*sentry.Organization](t, "update organization")(c.Organizations.Update(ctx, o, orgParams))
	second := must[*sentry.Organization](t, "update organization again")(c.Organizations.Update(ctx, o, orgParams))
	read := must[*sentry.Organization](t, "get organization")(c.Organizations.Get(ctx, o))
	same(t, "organization updates", first, second)
	same(t, "organization update and read", second, read)
	if sentry.StringValue(read.Name) != "Terraform Inc" || sentry.StringValue(read.ID) != sentry.StringValue(org.ID) {
		t.Errorf("organization read back: %s %s", sentry.StringValue(read.Name), sentry.StringValue(read.ID))
	}
	if len(read.OrgRoleList) != 4 || len(read.TeamRoleList) != 2 || read.TeamRoleList[0].ID != "contributor" {
		t.Errorf("organization role lists: %+v %+v", read.OrgRoleList, read.TeamRoleList)
	}

	// sentry_team
	must[*sentry.Team](t, "create team")(c.Teams.Create(ctx, o, &sentry.CreateTeamParams{Name: sentry.String("Platform"), Slug: sentry.String("platform")}))
	teamParams := &sentry.UpdateTeamParams{Name: sentry.String("Platform Team")}
	tFirst := must[*sentry.Team](t, "update team")(c.Teams.Update(ctx, o, "platform", teamParams))
	tSecond := must[*sentry.Team](t, "update team again")(c.Teams.Update(ctx, o, "platform", teamParams))
	tRead := must[*sentry.Team](t, "get team")(c.Teams.Get(ctx, o, "platform"))
	same(t, "team updates", tFirst, tSecond)
	same(t, "team update and read", tSecond, tRead)
	if sentry.StringValue(tRead.Name) != "Platform Team" {
		t.Errorf("team name %q", sentry.StringValue(tRead.Name))
	}

	// sentry_project, with every field the provider writes.
	must[*sentry.Project](t, "create project")(c.Projects.Create(ctx, o, "platform", &sentry.CreateProjectParams{Name: "API", Slug: "api", Platform: "go"}))
	projParams := &sentry.UpdateProjectParams{
		Name: "API Server", Platform: "go-http", IsBookmarked: sentry.Bool(true),
		DigestsMinDelay: sentry.Int(120), DigestsMaxDelay: sentry.Int(900), ResolveAge: sentry.Int(72),
		Options:              map[string]interface{}{"sentry:token_header": "X-Hook-Token"},
		AllowedDomains:       []string{"app.example.test"},
		FingerprintingRules:  sentry.String("error.type:DatabaseUnavailable -> system-down"),
		GroupingEnhancements: sentry.String("stack.module:vendor.* -app"),
	}
	must[*sentry.Project](t, "update project")(c.Projects.Update(ctx, o, "api", projParams))
	// Grouping rules are a grouping decision: read until applied.
	var pRead *sentry.Project
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		pRead = must[*sentry.Project](t, "get project")(c.Projects.Get(ctx, o, "api"))
		if pRead.FingerprintingRules == *projParams.FingerprintingRules || time.Now().After(deadline) {
			break
		}
	}
	pSecond := must[*sentry.Project](t, "update project again")(c.Projects.Update(ctx, o, "api", projParams))
	same(t, "project read and second identical update", pRead, pSecond)
	if pRead.Name != "API Server" || pRead.Platform != "go-http" || !pRead.IsBookmarked || pRead.DigestsMinDelay != 120 || pRead.DigestsMaxDelay != 900 ||
		pRead.ResolveAge != 72 || fmt.Sprint(pRead.AllowedDomains) != "[app.example.test]" || pRead.GroupingEnhancements != *projParams.GroupingEnhancements ||
		pRead.Options["sentry:token_header"] != "X-Hook-Token" {
		t.Errorf("project read back: %+v", pRead)
	}

	// sentry_key, with a rate limit over a 90 s window.
	key := must[*sentry.ProjectKey](t, "create key")(c.ProjectKeys.Create(ctx, o, "api", &sentry.CreateProjectKeyParams{Name: "terraform"}))
	keyParams := &sentry.UpdateProjectKeyParams{Name: "terraform key", RateLimit: &sentry.ProjectKeyRateLimit{Window: 90, Count: 3}}
	kFirst := must[*sentry.ProjectKey](t, "update key")(c.ProjectKeys.Update(ctx, o, "api", key.ID, keyParams))
	kSecond := must[*sentry.ProjectKey](t, "update key again")(c.ProjectKeys.Update(ctx, o, "api", key.ID, keyParams))
	kRead := must[*sentry.ProjectKey](t, "get key")(c.ProjectKeys.Get(ctx, o, "api", key.ID))
	same(t, "key updates", kFirst, kSecond)
	same(t, "key update and read", kSecond, kRead)
	if kRead.RateLimit == nil || *kRead.RateLimit != (sentry.ProjectKeyRateLimit{Window: 90, Count: 3}) || kRead.Name != "terraform key" {
		t.Errorf("key read back: %+v %+v", kRead, kRead.RateLimit)
	}
	d := kRead.DSN
	for name, v := range map[string]string{"public": d.Public, "secret": d.Secret, "csp": d.CSP, "security": d.Security, "minidump": d.Minidump,
		"nel": d.NEL, "unreal": d.Unreal, "cdn": d.CDN, "crons": d.Crons} {
		if !strings.HasPrefix(v, "http://") || !strings.Contains(v, kRead.Public) {
			t.Errorf("dsn.%s = %q", name, v)
		}
	}
	if !strings.Contains(d.Secret, kRead.Public+":"+kRead.Secret+"@") {
		t.Errorf("dsn.secret %q lacks the secret key", d.Secret)
	}

	keyRateLimitReachesGateway(t, c)

	// sentry_organization_member: creating one sends an invitation, which
	// needs SMTP, so the member is made with the CLI; go-sentry reads and
	// updates it.
	if out, err := srv.Run(ctx, "user", "create", "--email", "dev@example.test", "--password", "correct horse battery", "--org", o, "--role", "member"); err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	var member *sentry.OrganizationMember
	for _, m := range must[[]*sentry.OrganizationMember](t, "list members")(c.OrganizationMembers.List(ctx, o, nil)) {
		if m.Email == "dev@example.test" {
			member = m
		}
	}
	if member == nil {
		t.Fatal("the member made with the CLI is not listed")
	}
	memberParams := &sentry.UpdateOrganizationMemberParams{OrganizationRole: "member",
		TeamRoles: []sentry.TeamRole{{TeamSlug: "platform", Role: sentry.String("admin")}}}
	mFirst := must[*sentry.OrganizationMember](t, "update member")(c.OrganizationMembers.Update(ctx, o, member.ID, memberParams))
	mSecond := must[*sentry.OrganizationMember](t, "update member again")(c.OrganizationMembers.Update(ctx, o, member.ID, memberParams))
	mRead := must[*sentry.OrganizationMember](t, "get member")(c.OrganizationMembers.Get(ctx, o, member.ID))
	same(t, "member updates", mFirst, mSecond)
	same(t, "member update and read", mSecond, mRead)
	if mRead.OrgRole != "member" || len(mRead.TeamRoles) != 1 || sentry.StringValue(mRead.TeamRoles[0].Role) != "admin" ||
		len(mRead.OrgRoleList) != 4 || len(mRead.TeamRoleList) != 2 {
		t.Errorf("member read back: %+v", mRead)
	}

	// sentry_team_member: join a second team, set and reset the role.
	must[*sentry.Team](t, "create team ops")(c.Teams.Create(ctx, o, &sentry.CreateTeamParams{Name: sentry.String("Ops"), Slug: sentry.String("ops")}))
	must[*sentry.TeamMember](t, "add team member")(c.TeamMembers.Create(ctx, o, member.ID, "ops"))
	roleParams := &sentry.UpdateTeamMemberParams{TeamRole: sentry.String("admin")}
	rFirst := must[*sentry.UpdateTeamMemberResponse](t, "set team role")(c.TeamMembers.Update(ctx, o, member.ID, "ops", roleParams))
	rSecond := must[*sentry.UpdateTeamMemberResponse](t, "set team role again")(c.TeamMembers.Update(ctx, o, member.ID, "ops", roleParams))
	same(t, "team role updates", rFirst, rSecond)
	mRead = must[*sentry.OrganizationMember](t, "get member")(c.OrganizationMembers.Get(ctx, o, member.ID))
	roles := map[string]string{}
	for _, tr := range mRead.TeamRoles {
		roles[tr.TeamSlug] = sentry.StringValue(tr.Role)
	}
	if roles["ops"] != "admin" || roles["platform"] != "admin" {
		t.Errorf("team roles read back: %v", roles)
	}

	// sentry_issue_alert
	rule := &sentry.IssueAlert{
		Name: sentry.String("New issues to the hook"), ActionMatch: sentry.String("any"), FilterMatch: sentry.String("all"),
		Frequency:  jsonNumber("30"),
		Conditions: []map[string]interface{}{{"id": "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}},
		Actions:    []map[string]interface{}{{"id": "sentry.rules.actions.notify_event_service.NotifyEventServiceAction", "service": "webhooks"}},
		Filters:    []map[string]interface{}{},
	}
	created := must[*sentry.IssueAlert](t, "create issue alert")(c.IssueAlerts.Create(ctx, o, "api", rule))
	aFirst := must[*sentry.IssueAlert](t, "update issue alert")(c.IssueAlerts.Update(ctx, o, "api", *created.ID, rule))
	aSecond := must[*sentry.IssueAlert](t, "update issue alert again")(c.IssueAlerts.Update(ctx, o, "api", *created.ID, rule))
	aRead := must[*sentry.IssueAlert](t, "get issue alert")(c.IssueAlerts.Get(ctx, o, "api", *created.ID))
	same(t, "issue alert updates", aFirst, aSecond)
	same(t, "issue alert update and read", aSecond, aRead)
	if sentry.StringValue(aRead.Name) != *rule.Name || len(aRead.Actions) != 1 || aRead.Frequency.String() != "30" {
		t.Errorf("issue alert read back: %+v", aRead)
	}

	// sentry_plugin (webhooks)
	hook := sentry.UpdateProjectPluginParams{"urls": "https://hooks.example.test/terraform"}
	hFirst := must[*sentry.ProjectPlugin](t, "set webhooks plugin")(c.ProjectPlugins.Update(ctx, o, "api", "webhooks", hook))
	hSecond := must[*sentry.ProjectPlugin](t, "set webhooks plugin again")(c.ProjectPlugins.Update(ctx, o, "api", "webhooks", hook))
	same(t, "webhooks plugin updates", hFirst, hSecond)
	var hRead *sentry.ProjectPlugin
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) { // applied by alerting
		hRead = must[*sentry.ProjectPlugin](t, "get webhooks plugin")(c.ProjectPlugins.Get(ctx, o, "api", "webhooks"))
		if pluginValue(hRead, "urls") == hook["urls"] || time.Now().After(deadline) {
			break
		}
	}
	if pluginValue(hRead, "urls") != hook["urls"] || hRead.ID != "webhooks" {
		t.Errorf("webhooks plugin read back: %+v", hRead)
	}

	// sentry_project_inbound_data_filter
	for _, f := range []struct {
		id     string
		params *sentry.UpdateProjectInboundDataFilterParams
		want   string
	}{
		{"localhost", &sentry.UpdateProjectInboundDataFilterParams{Active: sentry.Bool(true)}, "true"},
		{"legacy-browser", &sentry.UpdateProjectInboundDataFilterParams{Subfilters: []string{"ie_pre_9", "safari_pre_6"}}, "[ie_pre_9 safari_pre_6]"},
	} {
		for range 2 {
			if _, err := c.ProjectInboundDataFilters.Update(ctx, o, "api", f.id, f.params); err != nil {
				t.Fatalf("update filter %s: %v", f.id, err)
			}
		}
		filters := must[[]*sentry.ProjectInboundDataFilter](t, "list filters")(c.ProjectInboundDataFilters.List(ctx, o, "api"))
		got := ""
		for _, x := range filters {
			if x.ID == f.id {
				got = activeString(x.Active)
			}
		}
		if got != f.want {
			t.Errorf("filter %s read back %s, want %s", f.id, got, f.want)
		}
	}

	// sentry_issue_ownership: stored and checked (issues are not assigned
	// by the rules yet).
	own := &sentry.UpdateProjectOwnershipParams{Raw: "path:src/payments/* #platform dev@example.test\ntags.service:billing #ops",
		FallThrough: sentry.Bool(false), AutoAssignment: sentry.String("Turn off Auto-Assignment")}
	oFirst := must[*sentry.ProjectOwnership](t, "set ownership")(c.ProjectOwnerships.Update(ctx, o, "api", own))
	oSecond := must[*sentry.ProjectOwnership](t, "set ownership again")(c.ProjectOwnerships.Update(ctx, o, "api", own))
	oRead := must[*sentry.ProjectOwnership](t, "get ownership")(c.ProjectOwnerships.Get(ctx, o, "api"))
	same(t, "ownership updates", oFirst, oSecond)
	same(t, "ownership update and read", oSecond, oRead)
	if oRead.Raw != own.Raw || oRead.FallThrough || oRead.AutoAssignment != "Turn off Auto-Assignment" {
		t.Errorf("ownership read back: %+v", oRead)
	}

	// sentry_release_deployment: deploys are records; each write adds one,
	// and the one written reads back as written.
	if code := post(t, token, "/api/0/organizations/tf/releases/", `{"version":"tf@1.0.0","projects":["api"]}`); code != 201 {
		t.Fatalf("create release: %d", code)
	}
	deploy := must[*sentry.ReleaseDeployment](t, "create deploy")(c.ReleaseDeployments.Create(ctx, o, "tf@1.0.0",
		&sentry.ReleaseDeployment{Environment: "production", Name: sentry.String("terraform"), URL: sentry.String("https://ci.example.test/1")}))
	dRead := must[*sentry.ReleaseDeployment](t, "get deploy")(c.ReleaseDeployments.Get(ctx, o, "tf@1.0.0", deploy.ID))
	if dRead == nil {
		t.Fatalf("deploy %s is not in the release's deploys", deploy.ID)
	}
	if dRead.Environment != "production" || sentry.StringValue(dRead.Name) != "terraform" || sentry.StringValue(dRead.URL) != "https://ci.example.test/1" {
		t.Errorf("deploy read back: %+v", dRead)
	}
}

// keyRateLimitReachesGateway creates a key limited to 3 events per 90 s
// with go-sentry and sends through it with sentry-go: the gateway stores 3
// and answers the next with 429, Retry-After within the 90 s window and
// X-Sentry-Rate-Limits naming the key scope.
func keyRateLimitReachesGateway(t *testing.T, c *sentry.Client) {
	ctx := context.Background()
	key := must[*sentry.ProjectKey](t, "create limited key")(c.ProjectKeys.Create(ctx, "tf", "api",
		&sentry.CreateProjectKeyParams{Name: "limited", RateLimit: &sentry.ProjectKeyRateLimit{Window: 90, Count: 3}}))
	projectID, err := key.ProjectID.Int64()
	if err != nil {
		t.Fatal(err)
	}
	// Inside one 90 s window (the gateway's windows are whole multiples).
	if now := time.Now(); now.Truncate(90*time.Second).Add(90*time.Second).Sub(now) < 30*time.Second {
		time.Sleep(now.Truncate(90*time.Second).Add(90*time.Second).Sub(now) + 100*time.Millisecond)
	}
	envelope := func(i int) *http.Response {
		id := fmt.Sprintf("%032x", 0x7e5700+i)
		body := `{"event_id":"` + id + `"}` + "\n" + `{"type":"event"}` + "\n" + `{"event_id":"` + id + `","message":"limited","level":"error"}` + "\n"
		req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/%d/envelope/", srv.URL, projectID), strings.NewReader(body))
		req.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_client=e2e/1.0, sentry_key="+key.Public)
		req.Header.Set("Content-Type", "application/x-sentry-envelope")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	// The first accepted envelope says the gateway knows the key, limit
	// and all: the bucket holds the whole record at once.
	deadline := time.Now().Add(30 * time.Second)
	for res := envelope(0); res.StatusCode != http.StatusOK; res = envelope(0) {
		if res.StatusCode != http.StatusUnauthorized || time.Now().After(deadline) {
			t.Fatalf("first envelope with the new key: %d", res.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	sdk, err := sentrygo.NewClient(sentrygo.ClientOptions{Dsn: key.DSN.Public, Transport: sentrygo.NewHTTPSyncTransport()})
	if err != nil {
		t.Fatal(err)
	}
	defer sdk.Close()
	hub := sentrygo.NewHub(sdk, sentrygo.NewScope())
	for i := range 4 {
		hub.CaptureMessage(fmt.Sprintf("over the key's limit? %d", i))
	}
	res := envelope(99)
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after the limit: %d, want 429", res.StatusCode)
	}
	if retry, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || retry < 1 || retry > 90 {
		t.Errorf("Retry-After %q, want 1 to 90 s", res.Header.Get("Retry-After"))
	}
	if h := res.Header.Get("X-Sentry-Rate-Limits"); !strings.Contains(h, ":error:key:") {
		t.Errorf("X-Sentry-Rate-Limits %q, want the error category limited for the key", h)
	}
	if n, err := srv.Count(ctx, projectID); err != nil || n != 3 {
		t.Errorf("the project's stored envelopes: %d (%v), want 3 under a limit of 3 per 90 s", n, err)
	}
}

func jsonNumber(s string) *json.Number { n := json.Number(s); return &n }

// pluginValue is the value of a plugin's config field, as the provider
// reads it.
func pluginValue(p *sentry.ProjectPlugin, name string) any {
	for _, c := range p.Config {
		if c.Name == name {
			return c.Value
		}
	}
	return nil
}

func activeString(a sentry.BoolOrStringSlice) string {
	if a.IsBool {
		return fmt.Sprint(a.BoolVal)
	}
	return fmt.Sprint(a.StringSliceVal)
}

// post calls the REST API outside go-sentry (which has no release
// creation) and returns the status.
func post(t *testing.T, token, path, body string) int {
	t.Helper()
	req, err := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body)
	return res.StatusCode
}
