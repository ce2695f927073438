package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/config"
)

// user runs 'faultline user create'.
func user(ctx context.Context, cfg config.Config, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("user: want 'create'")
	}
	fs := newFlags("user create", out)
	email := fs.String("email", "", "the user's email address")
	password := fs.String("password", "", "the user's password (at least 8 characters)")
	name := fs.String("name", "", "the user's name")
	org := fs.String("org", "", "make the user a member of this organisation (created if missing)")
	role := fs.String("role", "", "role in --org: owner, admin, member or viewer (owner of a new organisation, else member)")
	superuser := fs.Bool("superuser", false, "the user may do anything in every organisation")
	if pos, err := parseInterspersed(fs, args[1:]); err != nil {
		return err
	} else if len(pos) > 0 || *email == "" || *password == "" {
		return errors.New("usage: faultline user create --email E --password P [--name N] [--org ORG --role ROLE] [--superuser]")
	}
	if *role != "" && *org == "" {
		return errors.New("user create: --role needs --org")
	}
	if *role != "" && !accounts.ValidRole(*role) {
		return fmt.Errorf("user create: role %q: want owner, admin, member or viewer", *role)
	}
	store, done, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer done()
	u, err := store.CreateUser(ctx, accounts.NewUser{Email: *email, Name: *name, Password: *password, Superuser: *superuser})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "user %s (id %d)%s\n", u.Email, u.ID, map[bool]string{true: " superuser", false: ""}[u.IsSuperuser])
	if *org == "" {
		return nil
	}
	o, _, err := store.OrgRole(ctx, accounts.Slugify(*org), u.ID)
	if errors.Is(err, accounts.ErrNotFound) {
		o, err = store.CreateOrganization(ctx, 0, *org, "")
		if *role == "" {
			*role = accounts.RoleOwner
		}
	}
	if err != nil {
		return err
	}
	if *role == "" {
		*role = accounts.RoleMember
	}
	if err := store.AddMember(ctx, o.ID, u.ID, *role); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s of organisation %s\n", *role, o.Slug)
	return nil
}

// token runs 'faultline token create'; the token is the last line.
func token(ctx context.Context, cfg config.Config, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("token: want 'create'")
	}
	fs := newFlags("token create", out)
	email := fs.String("user", "", "email of the user the token acts for")
	scopes := fs.String("scopes", "read,write", "comma-separated: read, write, admin (or Sentry's org:read, project:write, ...)")
	name := fs.String("name", "", "a name to recognise the token by")
	org := fs.String("org", "", "restrict the token to this organisation")
	project := fs.String("project", "", "restrict the token to this project of --org")
	if pos, err := parseInterspersed(fs, args[1:]); err != nil {
		return err
	} else if len(pos) > 0 || *email == "" {
		return errors.New("usage: faultline token create --user EMAIL [--scopes read,write,admin] [--org ORG [--project P]] [--name N]")
	}
	if *project != "" && *org == "" {
		return errors.New("token create: --project needs --org")
	}
	store, done, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer done()
	u, err := store.UserByEmail(ctx, *email)
	if err != nil {
		return fmt.Errorf("user %s: %w", *email, err)
	}
	nt := accounts.NewToken{UserID: u.ID, Name: *name, Scopes: strings.Split(*scopes, ",")}
	if *org != "" {
		o, role, err := store.OrgRole(ctx, *org, u.ID)
		if err != nil {
			return fmt.Errorf("organisation %s: %w", *org, err)
		}
		if role == "" && !u.IsSuperuser {
			return fmt.Errorf("%s is not a member of %s", u.Email, o.Slug)
		}
		nt.OrgID = o.ID
		if *project != "" {
			p, err := store.OrgProject(ctx, o.ID, *project)
			if err != nil {
				return fmt.Errorf("project %s/%s: %w", o.Slug, *project, err)
			}
			nt.ProjectID = p.ID
		}
	}
	t, tok, err := store.CreateToken(ctx, nt)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "token %d for %s, scopes %s (shown once; store it now)\n", t.ID, u.Email, strings.Join(t.Scopes, ","))
	fmt.Fprintln(out, tok)
	return nil
}
