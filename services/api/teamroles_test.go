package api_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/faultline/faultline/libs/accounts"
)

// TestTeamRoles: a team role is set with PUT …/members/{id}/teams/{team}/
// and read back on the member, the team's member list and the team; a
// team's admin manages that team's membership and roles, and nothing else;
// a contributor manages only their own membership; the role lists and the
// caller's role are on the organisation and member answers.
func TestTeamRoles(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	ctx := context.Background()
	dev, err := e.store.CreateUser(ctx, accounts.NewUser{Email: "dev@example.test", Name: "Dev", Password: f.password})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.AddMember(ctx, f.acme.ID, dev.ID, accounts.RoleMember); err != nil {
		t.Fatal(err)
	}
	devMember, err := e.store.Member(ctx, f.acme.ID, "me", dev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateTeam(ctx, f.acme.ID, "Frontend", "frontend"); err != nil {
		t.Fatal(err)
	}
	owner := e.session(f.users["owner"])
	lead := e.session(f.users["member"]) // becomes backend's team admin
	contributor := e.session(dev)
	teamPath := func(member int64, team string) string {
		return fmt.Sprintf("/api/0/organizations/acme/members/%d/teams/%s/", member, team)
	}
	expect := func(c *client, method, path string, body any, status int) response {
		t.Helper()
		res := c.do(method, path, body)
		if res.status != status {
			t.Fatalf("%s %s: %d %s, want %d", method, path, res.status, res.body, status)
		}
		return res
	}

	expect(owner, "POST", teamPath(f.members["member"], "backend"), nil, 201)
	expect(owner, "POST", teamPath(devMember.ID, "backend"), nil, 201)
	// The caller's teamRole is on the team answer; an admin of the
	// organisation is a team admin.
	if r := expect(owner, "GET", "/api/0/teams/acme/backend/", nil, 200).obj(t)["teamRole"]; r != nil {
		t.Errorf("owner (not in the team) has teamRole %v, want null", r)
	}
	if r := expect(lead, "GET", "/api/0/teams/acme/backend/", nil, 200).obj(t)["teamRole"]; r != "contributor" {
		t.Errorf("new team member's teamRole %v, want contributor", r)
	}
	// A contributor may not promote anyone, themselves included.
	expect(lead, "PUT", teamPath(f.members["member"], "backend"), map[string]any{"teamRole": "admin"}, 403)
	got := expect(owner, "PUT", teamPath(f.members["member"], "backend"), map[string]any{"teamRole": "admin"}, 200).obj(t)
	if got["teamRole"] != "admin" || got["isActive"] != true {
		t.Errorf("PUT teamRole answered %v", got)
	}
	// An identical second write changes nothing.
	if again := expect(owner, "PUT", teamPath(f.members["member"], "backend"), map[string]any{"teamRole": "admin"}, 200).obj(t); fmt.Sprint(again) != fmt.Sprint(got) {
		t.Errorf("second write answered %v, first %v", again, got)
	}
	for _, bad := range []map[string]any{{"teamRole": "owner"}, {"teamRole": "admin", "role": "x"}, {"teamRole": 3}} {
		res := owner.do("PUT", teamPath(devMember.ID, "backend"), bad)
		if res.status != 400 {
			t.Errorf("PUT %v: %d %s, want 400", bad, res.status, res.body)
		}
	}
	// Not in the team: 404.
	expect(owner, "PUT", teamPath(f.members["admin"], "backend"), map[string]any{"teamRole": "admin"}, 404)

	// Read back on the member, with Sentry's role lists.
	var m struct {
		OrgRole   string `json:"orgRole"`
		TeamRoles []struct {
			TeamSlug string  `json:"teamSlug"`
			Role     *string `json:"role"`
		} `json:"teamRoles"`
		OrgRoleList []struct {
			ID              string `json:"id"`
			MinimumTeamRole string `json:"minimumTeamRole"`
			IsAllowed       bool   `json:"isAllowed"`
		} `json:"orgRoleList"`
		TeamRoleList []struct {
			ID string `json:"id"`
		} `json:"teamRoleList"`
	}
	expect(owner, "GET", fmt.Sprintf("/api/0/organizations/acme/members/%d/", f.members["member"]), nil, 200).json(t, &m)
	if len(m.TeamRoles) != 1 || m.TeamRoles[0].TeamSlug != "backend" || m.TeamRoles[0].Role == nil || *m.TeamRoles[0].Role != "admin" {
		t.Errorf("member teamRoles %+v, want backend: admin", m.TeamRoles)
	}
	if len(m.OrgRoleList) != 4 || m.OrgRoleList[0].ID != "viewer" || m.OrgRoleList[3].ID != "owner" || m.OrgRoleList[3].MinimumTeamRole != "admin" ||
		m.OrgRoleList[1].MinimumTeamRole != "contributor" || !m.OrgRoleList[3].IsAllowed {
		t.Errorf("orgRoleList as the owner sees it: %+v", m.OrgRoleList)
	}
	if len(m.TeamRoleList) != 2 || m.TeamRoleList[0].ID != "contributor" || m.TeamRoleList[1].ID != "admin" {
		t.Errorf("teamRoleList %+v", m.TeamRoleList)
	}
	var list []map[string]any
	expect(owner, "GET", "/api/0/teams/acme/backend/members/", nil, 200).json(t, &list)
	roles := map[string]any{}
	for _, it := range list {
		roles[it["email"].(string)] = it["teamRole"]
		if it["teamSlug"] != "backend" {
			t.Errorf("team member %v: teamSlug %v", it["email"], it["teamSlug"])
		}
	}
	if roles["member@example.test"] != "admin" || roles["dev@example.test"] != "contributor" {
		t.Errorf("team member roles %v", roles)
	}

	// The organisation answer names the caller's role and both lists.
	org := expect(lead, "GET", "/api/0/organizations/acme/", nil, 200).obj(t)
	if org["role"] != "member" || org["orgRole"] != "member" || len(org["orgRoleList"].([]any)) != 4 || len(org["teamRoleList"].([]any)) != 2 {
		t.Errorf("organisation as a member sees it: role %v orgRole %v lists %v %v", org["role"], org["orgRole"], org["orgRoleList"], org["teamRoleList"])
	}
	for _, r := range org["orgRoleList"].([]any) {
		if r.(map[string]any)["isAllowed"] != false {
			t.Errorf("a member may give org role %v", r)
		}
	}
	if r := expect(owner, "GET", "/api/0/organizations/acme/", nil, 200).obj(t)["role"]; r != "owner" {
		t.Errorf("owner's role on the organisation: %v", r)
	}

	// The team admin manages their team: adds, re-roles and removes members.
	expect(lead, "POST", teamPath(f.members["viewer"], "backend"), nil, 201)
	if res := lead.do("PUT", teamPath(f.members["viewer"], "backend"), map[string]any{"teamRole": "admin"}); res.status != 400 {
		t.Errorf("a viewer made team admin: %d %s, want 400", res.status, res.body)
	}
	expect(lead, "PUT", teamPath(devMember.ID, "backend"), map[string]any{"teamRole": "contributor"}, 200)
	expect(lead, "DELETE", teamPath(f.members["viewer"], "backend"), nil, 200)
	// …and not another team.
	expect(lead, "POST", teamPath(f.members["viewer"], "frontend"), nil, 403)
	// A contributor adds and removes nobody but themselves.
	expect(contributor, "POST", teamPath(f.members["viewer"], "backend"), nil, 403)
	expect(contributor, "DELETE", teamPath(f.members["member"], "backend"), nil, 403)
	expect(contributor, "PUT", teamPath(devMember.ID, "backend"), map[string]any{"teamRole": "admin"}, 403)
	expect(contributor, "POST", teamPath(devMember.ID, "frontend"), nil, 201) // open membership
	expect(contributor, "DELETE", teamPath(devMember.ID, "backend"), nil, 200)
	// A team admin's read-only token manages nothing.
	tok, _ := e.token(f.users["member"], "read")
	if res := e.withToken(tok).do("POST", teamPath(f.members["viewer"], "backend"), nil); res.status != 403 {
		t.Errorf("team admin's read token: %d, want 403", res.status)
	}
	// Demoted, the former team admin loses the team's management.
	expect(owner, "PUT", teamPath(f.members["member"], "backend"), map[string]any{"teamRole": "contributor"}, 200)
	expect(lead, "POST", teamPath(f.members["viewer"], "backend"), nil, 403)
	// Sentry's teamRoles on the member set their teams and roles at once.
	memberPath := fmt.Sprintf("/api/0/organizations/acme/members/%d/", f.members["member"])
	if res := owner.do("PUT", memberPath, map[string]any{"teamRoles": []any{map[string]any{"teamSlug": "nope", "role": nil}}}); res.status != 400 {
		t.Errorf("teamRoles naming no team: %d %s, want 400", res.status, res.body)
	}
	expect(owner, "PUT", memberPath, map[string]any{"role": "member",
		"teamRoles": []any{map[string]any{"teamSlug": "frontend", "role": "admin"}}}, 200).json(t, &m)
	if len(m.TeamRoles) != 1 || m.TeamRoles[0].TeamSlug != "frontend" || m.TeamRoles[0].Role == nil || *m.TeamRoles[0].Role != "admin" {
		t.Errorf("after teamRoles: %+v, want only frontend as admin", m.TeamRoles)
	}
	// Another organisation sees nothing.
	expect(e.session(f.users["other"]), "PUT", teamPath(f.members["member"], "backend"), map[string]any{"teamRole": "admin"}, 404)
}
