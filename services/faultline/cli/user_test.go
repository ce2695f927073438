package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/pg/pgtest"
)

func TestUserAndTokenCreate(t *testing.T) {
	db := pgtest.NewT(t)
	env := map[string]string{"DATABASE_URL": db.URL}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := Run(context.Background(), args, func(k string) string { return env[k] }, &out)
		return out.String(), err
	}
	out, err := run("user", "create", "--email", "Ada@Example.test", "--password", "correct horse", "--org", "acme", "--superuser")
	if err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	if !strings.Contains(out, "user ada@example.test") || !strings.Contains(out, "superuser") || !strings.Contains(out, "owner of organisation acme") {
		t.Errorf("output:\n%s", out)
	}
	out, err = run("user", "create", "--email", "bob@example.test", "--password", "correct horse", "--org", "acme", "--role", "viewer")
	if err != nil || !strings.Contains(out, "viewer of organisation acme") {
		t.Fatalf("second user: %v\n%s", err, out)
	}
	if _, err := run("user", "create", "--email", "ada@example.test", "--password", "correct horse"); err == nil {
		t.Error("creating an existing user succeeded")
	}
	if _, err := run("user", "create", "--email", "c@example.test", "--password", "short"); err == nil {
		t.Error("a short password was accepted")
	}
	if _, err := run("user", "create", "--email", "c@example.test", "--password", "long enough", "--org", "acme", "--role", "god"); err == nil {
		t.Error("an unknown role was accepted")
	}

	out, err = run("token", "create", "--user", "bob@example.test", "--scopes", "read,org:write", "--org", "acme", "--name", "ci")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	tok := lines[len(lines)-1]
	store := accounts.NewStore(db.Pool, "http://localhost:8080")
	got, u, err := store.TokenUser(context.Background(), tok)
	if err != nil {
		t.Fatalf("the printed token %q does not authenticate: %v", tok, err)
	}
	if u.Email != "bob@example.test" || strings.Join(got.Scopes, ",") != "read,write" || got.OrgSlug != "acme" || got.Name != "ci" {
		t.Errorf("token %+v of %s", got, u.Email)
	}
	if _, err := run("token", "create", "--user", "nobody@example.test"); err == nil {
		t.Error("token for an unknown user")
	}
	if _, err := run("token", "create", "--user", "bob@example.test", "--scopes", "root"); err == nil {
		t.Error("unknown scope accepted")
	}
}

func TestEnsureSuperuserOnlyOnEmptyDatabase(t *testing.T) {
	db := pgtest.NewT(t, accounts.Migrations)
	store := accounts.NewStore(db.Pool, "http://localhost:8080")
	ctx := context.Background()
	created, err := store.EnsureSuperuser(ctx, "root@example.test", "first password")
	if err != nil || !created {
		t.Fatalf("first start: created=%v err=%v", created, err)
	}
	created, err = store.EnsureSuperuser(ctx, "other@example.test", "second password")
	if err != nil || created {
		t.Fatalf("second start: created=%v err=%v", created, err)
	}
	u, err := store.Authenticate(ctx, "root@example.test", "first password")
	if err != nil || !u.IsSuperuser {
		t.Fatalf("superuser sign-in: %v %+v", err, u)
	}
	if _, err := store.UserByEmail(ctx, "other@example.test"); err == nil {
		t.Error("a second superuser was created on a non-empty database")
	}
}
