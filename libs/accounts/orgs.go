package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/faultline/faultline/libs/decide"
	"github.com/faultline/faultline/libs/scrub"
	"github.com/faultline/faultline/streams"
	"github.com/jackc/pgx/v5"
)

// Organization is a tenant: its members, teams and projects.
type Organization struct {
	ID        int64
	Slug      string
	Name      string
	CreatedAt time.Time
}

// idOrSlug matches a row by slug first, then by numeric id, as Sentry's
// {organization_id_or_slug} path parameters do.
const orgBySlug = `(o.slug = $1 OR o.id::text = $1)`

func scanOrg(row pgx.Row, extra ...any) (*Organization, error) {
	var o Organization
	if err := row.Scan(append([]any{&o.ID, &o.Slug, &o.Name, &o.CreatedAt}, extra...)...); err != nil {
		return nil, notFound(err)
	}
	return &o, nil
}

// OrgRole returns the organisation idOrSlug names and the user's role in it
// ("" when not a member).
func (s *Store) OrgRole(ctx context.Context, idOrSlug string, userID int64) (*Organization, string, error) {
	var role string
	o, err := scanOrg(s.pool.QueryRow(ctx, `
		SELECT o.id, o.slug, o.name, o.created_at, COALESCE(m.role, '')
		FROM api.organizations o LEFT JOIN api.members m ON m.organization_id = o.id AND m.user_id = $2
		WHERE `+orgBySlug+` ORDER BY (o.slug = $1) DESC LIMIT 1`, idOrSlug, userID), &role)
	return o, role, err
}

// OrgFilter selects organisations: those the user is a member of (or all,
// for superusers), optionally only one.
type OrgFilter struct {
	UserID  int64
	AllOrgs bool
	OnlyOrg int64
}

func (f OrgFilter) where(orgCol string, args *[]any) string {
	var conds []string
	if !f.AllOrgs {
		*args = append(*args, f.UserID)
		conds = append(conds, fmt.Sprintf(`EXISTS (SELECT 1 FROM api.members m WHERE m.organization_id = %s AND m.user_id = $%d)`, orgCol, len(*args)))
	}
	if f.OnlyOrg != 0 {
		*args = append(*args, f.OnlyOrg)
		conds = append(conds, fmt.Sprintf(`%s = $%d`, orgCol, len(*args)))
	}
	if len(conds) == 0 {
		return "true"
	}
	return strings.Join(conds, " AND ")
}

// Organizations lists organisations by slug.
func (s *Store) Organizations(ctx context.Context, f OrgFilter, limit, offset int) ([]*Organization, error) {
	args := []any{limit, offset}
	rows, err := s.pool.Query(ctx, `SELECT o.id, o.slug, o.name, o.created_at FROM api.organizations o
		WHERE `+f.where("o.id", &args)+` ORDER BY o.slug LIMIT $1 OFFSET $2`, args...)
	if err != nil {
		return nil, fmt.Errorf("list organisations: %w", err)
	}
	return collect(rows, func(r pgx.Row) (*Organization, error) { return scanOrg(r) })
}

func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func slugOf(slug, name string) (string, error) {
	if slug == "" {
		slug = Slugify(name)
	}
	if slug == "" || slug != Slugify(slug) {
		return "", fmt.Errorf("%w: slug %q: want lower-case letters, digits, - and _ (at most 50)", ErrInvalid, slug)
	}
	if strings.Trim(slug, "0123456789") == "" {
		// An all-digit slug would shadow the id of another organisation or
		// project wherever both are accepted.
		return "", fmt.Errorf("%w: slug %q: a slug may not be all digits", ErrInvalid, slug)
	}
	return slug, nil
}

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return "", fmt.Errorf("%w: a name of 1 to 200 characters is required", ErrInvalid)
	}
	return name, nil
}

// CreateOrganization creates an organisation with the user as its owner.
func (s *Store) CreateOrganization(ctx context.Context, ownerID int64, name, slug string) (*Organization, error) {
	name, err := checkName(name)
	if err != nil {
		return nil, err
	}
	if slug, err = slugOf(slug, name); err != nil {
		return nil, err
	}
	var o *Organization
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		o, err = scanOrg(tx.QueryRow(ctx, `INSERT INTO api.organizations AS o (slug, name) VALUES ($1, $2)
			RETURNING o.id, o.slug, o.name, o.created_at`, slug, name))
		if err != nil {
			return err
		}
		if ownerID != 0 {
			_, err = tx.Exec(ctx, `INSERT INTO api.members (organization_id, user_id, role) VALUES ($1, $2, 'owner')`, o.ID, ownerID)
		}
		return err
	})
	if isUniqueViolation(err) {
		return nil, fmt.Errorf("organisation %q: %w", slug, ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("create organisation: %w", err)
	}
	return o, nil
}

// UpdateOrganization renames an organisation or changes its slug.
func (s *Store) UpdateOrganization(ctx context.Context, id int64, name, slug *string) (*Organization, error) {
	if name != nil {
		n, err := checkName(*name)
		if err != nil {
			return nil, err
		}
		name = &n
	}
	if slug != nil {
		if _, err := slugOf(*slug, ""); err != nil {
			return nil, err
		}
	}
	o, err := scanOrg(s.pool.QueryRow(ctx, `UPDATE api.organizations o SET name = COALESCE($2, name), slug = COALESCE($3, slug)
		WHERE id = $1 RETURNING o.id, o.slug, o.name, o.created_at`, id, name, slug))
	if isUniqueViolation(err) {
		return nil, fmt.Errorf("organisation %q: %w", *slug, ErrConflict)
	}
	return o, err
}

// DeleteOrganization deletes an organisation with its projects and keys; the
// keys leave the gateway's bucket through the NOTIFY trigger, and each
// project's deletion is a decision grouping applies to its issues and events.
func (s *Store) DeleteOrganization(ctx context.Context, id int64) error {
	return s.deleteProjects(ctx, `DELETE FROM api.organizations WHERE id = $1`,
		`SELECT id FROM api.projects WHERE organization_id = $1`, id)
}

// deleteProjects runs del, and publishes the deletion of the projects that
// sel lists before committing it.
func (s *Store) deleteProjects(ctx context.Context, del, sel string, id int64) error {
	if s.decisions == nil {
		return decide.ErrNoPublisher
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sel, id)
		if err != nil {
			return err
		}
		projects, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, del, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		actor := decide.ActorFrom(ctx)
		for _, p := range projects {
			if err := s.decisions.Publish(ctx, &streams.Decision{Kind: streams.DecideDeleteProject, ProjectID: p, Actor: actor}); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) execOne(ctx context.Context, sql string, args ...any) error {
	tag, err := s.pool.Exec(ctx, sql, args...)
	if isUniqueViolation(err) {
		return ErrConflict
	}
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// Team is a group of members that projects belong to.
type Team struct {
	ID          int64
	OrgID       int64
	Slug        string
	Name        string
	CreatedAt   time.Time
	MemberCount int
	IsMember    bool
	TeamRole    *string // the user's effective team role; nil when not a member
}

func teamColumns(userArg string) string {
	return `t.id, t.organization_id, t.slug, t.name, t.created_at,
		(SELECT count(*) FROM api.team_members tm WHERE tm.team_id = t.id),
		EXISTS (SELECT 1 FROM api.team_members tm JOIN api.members m ON m.id = tm.member_id
		        WHERE tm.team_id = t.id AND m.user_id = ` + userArg + `),
		(SELECT ` + effectiveTeamRoleSQL + ` FROM api.team_members tm JOIN api.members m ON m.id = tm.member_id
		        WHERE tm.team_id = t.id AND m.user_id = ` + userArg + `)`
}

func scanTeam(row pgx.Row) (*Team, error) {
	var t Team
	if err := row.Scan(&t.ID, &t.OrgID, &t.Slug, &t.Name, &t.CreatedAt, &t.MemberCount, &t.IsMember, &t.TeamRole); err != nil {
		return nil, notFound(err)
	}
	return &t, nil
}

// Teams lists an organisation's teams by slug; IsMember is for userID.
func (s *Store) Teams(ctx context.Context, orgID, userID int64, limit, offset int) ([]*Team, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+teamColumns("$2")+` FROM api.teams t
		WHERE t.organization_id = $1 ORDER BY t.slug LIMIT $3 OFFSET $4`, orgID, userID, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	return collect(rows, scanTeam)
}

// Team returns an organisation's team by slug or id.
func (s *Store) Team(ctx context.Context, orgID int64, idOrSlug string, userID int64) (*Team, error) {
	return scanTeam(s.pool.QueryRow(ctx, `SELECT `+teamColumns("$3")+` FROM api.teams t
		WHERE t.organization_id = $1 AND (t.slug = $2 OR t.id::text = $2) ORDER BY (t.slug = $2) DESC LIMIT 1`, orgID, idOrSlug, userID))
}

// CreateTeam creates a team.
func (s *Store) CreateTeam(ctx context.Context, orgID int64, name, slug string) (*Team, error) {
	if name == "" {
		name = slug
	}
	name, err := checkName(name)
	if err != nil {
		return nil, err
	}
	if slug, err = slugOf(slug, name); err != nil {
		return nil, err
	}
	var id int64
	err = s.pool.QueryRow(ctx, `INSERT INTO api.teams (organization_id, slug, name) VALUES ($1, $2, $3) RETURNING id`, orgID, slug, name).Scan(&id)
	if isUniqueViolation(err) {
		return nil, fmt.Errorf("team %q: %w", slug, ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("create team: %w", err)
	}
	return s.Team(ctx, orgID, slug, 0)
}

// UpdateTeam renames a team or changes its slug.
func (s *Store) UpdateTeam(ctx context.Context, t *Team, name, slug *string) (*Team, error) {
	if name != nil {
		n, err := checkName(*name)
		if err != nil {
			return nil, err
		}
		name = &n
	}
	if slug != nil {
		if _, err := slugOf(*slug, ""); err != nil {
			return nil, err
		}
	}
	err := s.execOne(ctx, `UPDATE api.teams SET name = COALESCE($2, name), slug = COALESCE($3, slug) WHERE id = $1`, t.ID, name, slug)
	if err != nil {
		return nil, err
	}
	return s.Team(ctx, t.OrgID, fmt.Sprint(t.ID), 0)
}

// DeleteTeam deletes a team; its projects stay.
func (s *Store) DeleteTeam(ctx context.Context, teamID int64) error {
	return s.execOne(ctx, `DELETE FROM api.teams WHERE id = $1`, teamID)
}

// Member is a user's membership of an organisation, or a pending invitation.
type Member struct {
	ID        int64
	OrgID     int64
	UserID    int64 // 0 while the invitation is pending
	Email     string
	Name      string
	Role      string
	Pending   bool
	Expired   bool
	CreatedAt time.Time
	Teams     []string
	// TeamRoles are the stored team roles, one for each of Teams (nil:
	// the default); EffectiveTeamRole turns one into what it grants.
	TeamRoles []*string
}

const memberColumns = `m.id, m.organization_id, COALESCE(m.user_id, 0), COALESCE(u.email, m.email), COALESCE(u.name, ''),
	m.role, m.user_id IS NULL, m.user_id IS NULL AND m.token_expires_at < now(), m.created_at,
	ARRAY(SELECT t.slug FROM api.team_members tm JOIN api.teams t ON t.id = tm.team_id WHERE tm.member_id = m.id ORDER BY t.slug),
	ARRAY(SELECT tm.role FROM api.team_members tm JOIN api.teams t ON t.id = tm.team_id WHERE tm.member_id = m.id ORDER BY t.slug)`

const memberFrom = ` FROM api.members m LEFT JOIN api.users u ON u.id = m.user_id `

func scanMember(row pgx.Row) (*Member, error) {
	var m Member
	if err := row.Scan(&m.ID, &m.OrgID, &m.UserID, &m.Email, &m.Name, &m.Role, &m.Pending, &m.Expired, &m.CreatedAt, &m.Teams, &m.TeamRoles); err != nil {
		return nil, notFound(err)
	}
	return &m, nil
}

// Members lists an organisation's members and pending invitations by email.
func (s *Store) Members(ctx context.Context, orgID int64, limit, offset int) ([]*Member, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+memberColumns+memberFrom+`
		WHERE m.organization_id = $1 ORDER BY COALESCE(u.email, m.email), m.id LIMIT $2 OFFSET $3`, orgID, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	return collect(rows, scanMember)
}

// TeamMembers lists a team's members by email.
func (s *Store) TeamMembers(ctx context.Context, teamID int64, limit, offset int) ([]*Member, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+memberColumns+memberFrom+`
		JOIN api.team_members tm ON tm.member_id = m.id AND tm.team_id = $1
		ORDER BY COALESCE(u.email, m.email), m.id LIMIT $2 OFFSET $3`, teamID, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("list team members: %w", err)
	}
	return collect(rows, scanMember)
}

// Member returns one member of an organisation by id ("me" is the user's own).
func (s *Store) Member(ctx context.Context, orgID int64, id string, userID int64) (*Member, error) {
	if id == "me" {
		return scanMember(s.pool.QueryRow(ctx, `SELECT `+memberColumns+memberFrom+` WHERE m.organization_id = $1 AND m.user_id = $2`, orgID, userID))
	}
	return scanMember(s.pool.QueryRow(ctx, `SELECT `+memberColumns+memberFrom+` WHERE m.organization_id = $1 AND m.id::text = $2`, orgID, id))
}

// AddMember makes a user a member with role, or changes their role.
func (s *Store) AddMember(ctx context.Context, orgID, userID int64, role string) error {
	if !ValidRole(role) {
		return fmt.Errorf("%w: role %q (want owner, admin, member or viewer)", ErrInvalid, role)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO api.members (organization_id, user_id, role) VALUES ($1, $2, $3)
		ON CONFLICT (organization_id, user_id) DO UPDATE SET role = EXCLUDED.role`, orgID, userID, role)
	if err != nil {
		return fmt.Errorf("add member: %w", err)
	}
	return nil
}

// InviteMember records an invitation of email with role (sent again with a
// fresh token when one is pending) and returns the token to mail. Inviting
// someone who is already a member is ErrConflict.
func (s *Store) InviteMember(ctx context.Context, orgID, invitedBy int64, email, role string, teamIDs []int64) (*Member, string, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, "", err
	}
	if !ValidRole(role) {
		return nil, "", fmt.Errorf("%w: role %q (want owner, admin, member or viewer)", ErrInvalid, role)
	}
	tok, hash := newSecret("")
	var id int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api.members m JOIN api.users u ON u.id = m.user_id
			WHERE m.organization_id = $1 AND u.email = $2)`, orgID, email).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("member %s: %w", email, ErrConflict)
		}
		if err := tx.QueryRow(ctx, `
			INSERT INTO api.members (organization_id, email, role, token_hash, token_expires_at, invited_by)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6, 0::bigint))
			ON CONFLICT (organization_id, email) WHERE user_id IS NULL DO UPDATE
			SET role = EXCLUDED.role, token_hash = EXCLUDED.token_hash, token_expires_at = EXCLUDED.token_expires_at,
			    invited_by = EXCLUDED.invited_by
			RETURNING id`, orgID, email, role, hash, time.Now().Add(inviteLifetime), invitedBy).Scan(&id); err != nil {
			return err
		}
		for _, t := range teamIDs {
			if _, err := tx.Exec(ctx, `INSERT INTO api.team_members (team_id, member_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, t, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("invite member: %w", err)
	}
	m, err := s.Member(ctx, orgID, fmt.Sprint(id), 0)
	return m, tok, err
}

// Invitation is what an invitation token grants.
type Invitation struct {
	MemberID int64
	Org      *Organization
	Email    string
	Role     string
}

// Invitation looks up a pending, unexpired invitation by its token.
func (s *Store) Invitation(ctx context.Context, token string) (*Invitation, error) {
	inv := Invitation{}
	var err error
	inv.Org, err = scanOrg(s.pool.QueryRow(ctx, `
		SELECT o.id, o.slug, o.name, o.created_at, m.id, m.email, m.role
		FROM api.members m JOIN api.organizations o ON o.id = m.organization_id
		WHERE m.token_hash = $1 AND m.user_id IS NULL AND m.token_expires_at > now()`, hashSecret(token)),
		&inv.MemberID, &inv.Email, &inv.Role)
	if err != nil {
		return nil, err
	}
	return &inv, nil
}

// AcceptInvitation turns a pending invitation into a membership of the user
// with the invited email, creating that user (with name and password) when
// there is none. It returns the user.
func (s *Store) AcceptInvitation(ctx context.Context, token, name, password string) (*User, *Invitation, error) {
	inv, err := s.Invitation(ctx, token)
	if err != nil {
		return nil, nil, err
	}
	u, err := s.UserByEmail(ctx, inv.Email)
	if err == ErrNotFound {
		u, err = s.CreateUser(ctx, NewUser{Email: inv.Email, Name: name, Password: password})
	} else if err == nil && (!VerifyPassword(u.passwordHash, password) || !u.IsActive) {
		// The invitation is for an account that exists: accepting it signs
		// in as that account, so it takes that account's password.
		return nil, nil, ErrWrongPassword
	}
	if err != nil {
		return nil, nil, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var already bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api.members WHERE organization_id = $1 AND user_id = $2)`,
			inv.Org.ID, u.ID).Scan(&already); err != nil {
			return err
		}
		if already {
			_, err := tx.Exec(ctx, `DELETE FROM api.members WHERE id = $1`, inv.MemberID)
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE api.members SET user_id = $2, email = '', token_hash = NULL, token_expires_at = NULL
			WHERE id = $1 AND user_id IS NULL`, inv.MemberID, u.ID)
		if err == nil && tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("accept invitation: %w", err)
	}
	return u, inv, nil
}

// ErrWrongPassword refuses an invitation accepted for an existing account
// without that account's password.
var ErrWrongPassword = errors.New("this invitation is for an existing account: give its password")

// errLastOwner keeps an organisation from losing its last owner.
var errLastOwner = fmt.Errorf("%w: an organisation needs at least one owner", ErrInvalid)

// UpdateMemberRole changes a member's role.
func (s *Store) UpdateMemberRole(ctx context.Context, m *Member, role string) error {
	if !ValidRole(role) {
		return fmt.Errorf("%w: role %q (want owner, admin, member or viewer)", ErrInvalid, role)
	}
	return s.changeMember(ctx, m, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE api.members SET role = $2 WHERE id = $1`, m.ID, role)
		return err
	}, role != RoleOwner)
}

// RemoveMember removes a member or cancels an invitation.
func (s *Store) RemoveMember(ctx context.Context, m *Member) error {
	return s.changeMember(ctx, m, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM api.members WHERE id = $1`, m.ID)
		return err
	}, true)
}

func (s *Store) changeMember(ctx context.Context, m *Member, change func(pgx.Tx) error, losesOwner bool) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One change to an organisation's owners at a time.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM api.organizations WHERE id = $1 FOR UPDATE`, m.OrgID); err != nil {
			return err
		}
		if losesOwner && m.Role == RoleOwner && !m.Pending {
			var others int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM api.members WHERE organization_id = $1 AND role = 'owner'
				AND user_id IS NOT NULL AND id <> $2`, m.OrgID, m.ID).Scan(&others); err != nil {
				return err
			}
			if others == 0 {
				return errLastOwner
			}
		}
		return change(tx)
	})
}

// SetTeamMember adds a member to a team or removes them.
func (s *Store) SetTeamMember(ctx context.Context, teamID, memberID int64, in bool) error {
	if in {
		_, err := s.pool.Exec(ctx, `INSERT INTO api.team_members (team_id, member_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, teamID, memberID)
		return err
	}
	return s.execOne(ctx, `DELETE FROM api.team_members WHERE team_id = $1 AND member_id = $2`, teamID, memberID)
}

// OrgProject is a project as the REST API shows it.
type OrgProject struct {
	ID             int64
	Org            Organization
	Slug           string
	Name           string
	Platform       string
	AllowedOrigins []string
	CreatedAt      time.Time
	Teams          []TeamRef
	// Scrub are the project's data-scrubbing settings: Sentry's defaults
	// until they are changed.
	Scrub scrub.Settings
	// Settings are Sentry's other project settings.
	Settings      ProjectSettings
	SecurityToken string
}

// TeamRef names a team a project belongs to.
type TeamRef struct {
	ID   int64  `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// ProjectFilter selects projects.
type ProjectFilter struct {
	Orgs      OrgFilter
	OrgID     int64
	TeamID    int64
	ProjectID int64
}

const projectColumns = `p.id, o.id, o.slug, o.name, o.created_at, p.slug, p.name, p.platform, p.allowed_origins, p.created_at,
	COALESCE((SELECT json_agg(json_build_object('id', t.id, 'slug', t.slug, 'name', t.name) ORDER BY t.slug)
	          FROM api.project_teams pt JOIN api.teams t ON t.id = pt.team_id WHERE pt.project_id = p.id), '[]'), p.scrub, p.settings, p.security_token`

const projectFrom = ` FROM api.projects p JOIN api.organizations o ON o.id = p.organization_id `

func scanProject(row pgx.Row) (*OrgProject, error) {
	var p OrgProject
	var teams, sc, st []byte
	if err := row.Scan(&p.ID, &p.Org.ID, &p.Org.Slug, &p.Org.Name, &p.Org.CreatedAt, &p.Slug, &p.Name, &p.Platform,
		&p.AllowedOrigins, &p.CreatedAt, &teams, &sc, &st, &p.SecurityToken); err != nil {
		return nil, notFound(err)
	}
	if err := json.Unmarshal(teams, &p.Teams); err != nil {
		return nil, err
	}
	settings, err := scrubSettings(sc)
	if err != nil {
		return nil, fmt.Errorf("project %d: %w", p.ID, err)
	}
	p.Scrub = settings
	if p.Settings, err = projectSettings(st); err != nil {
		return nil, fmt.Errorf("project %d: %w", p.ID, err)
	}
	return &p, nil
}

// OrgProjects lists projects by organisation and slug.
func (s *Store) OrgProjects(ctx context.Context, f ProjectFilter, limit, offset int) ([]*OrgProject, error) {
	args := []any{limit, offset}
	conds := []string{f.Orgs.where("p.organization_id", &args)}
	add := func(cond string, v int64) {
		if v != 0 {
			args = append(args, v)
			conds = append(conds, fmt.Sprintf(cond, len(args)))
		}
	}
	add(`p.organization_id = $%d`, f.OrgID)
	add(`p.id = $%d`, f.ProjectID)
	add(`EXISTS (SELECT 1 FROM api.project_teams pt WHERE pt.project_id = p.id AND pt.team_id = $%d)`, f.TeamID)
	rows, err := s.pool.Query(ctx, `SELECT `+projectColumns+projectFrom+` WHERE `+strings.Join(conds, " AND ")+`
		ORDER BY o.slug, p.slug LIMIT $1 OFFSET $2`, args...)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return collect(rows, scanProject)
}

// OrgProject returns an organisation's project by slug or id.
func (s *Store) OrgProject(ctx context.Context, orgID int64, idOrSlug string) (*OrgProject, error) {
	return scanProject(s.pool.QueryRow(ctx, `SELECT `+projectColumns+projectFrom+`
		WHERE p.organization_id = $1 AND (p.slug = $2 OR p.id::text = $2) ORDER BY (p.slug = $2) DESC LIMIT 1`, orgID, idOrSlug))
}

// CreateTeamProject creates a project owned by a team, with a default DSN key.
func (s *Store) CreateTeamProject(ctx context.Context, team *Team, name, slug, platform string) (*OrgProject, error) {
	name, err := checkName(name)
	if err != nil {
		return nil, err
	}
	if slug, err = slugOf(slug, name); err != nil {
		return nil, err
	}
	if len(platform) > 64 {
		return nil, fmt.Errorf("%w: platform longer than 64 characters", ErrInvalid)
	}
	var id int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO api.projects (organization_id, slug, name, platform) VALUES ($1, $2, $3, $4) RETURNING id`,
			team.OrgID, slug, name, platform).Scan(&id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO api.project_teams (project_id, team_id) VALUES ($1, $2)`, id, team.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO api.project_keys (project_id, public_key) VALUES ($1, $2)`, id, NewPublicKey())
		return err
	})
	if isUniqueViolation(err) {
		return nil, fmt.Errorf("project %q: %w", slug, ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("create project: %w", err)
	}
	return s.OrgProject(ctx, team.OrgID, fmt.Sprint(id))
}

// ProjectUpdate holds the fields to change; nil leaves one as it is.
type ProjectUpdate struct {
	Name, Slug, Platform *string
	AllowedOrigins       *[]string
	Scrub                ScrubUpdate
	Settings             SettingsUpdate
}

// UpdateProject changes a project. A change of allowed origins reaches the
// gateway through the NOTIFY trigger.
func (s *Store) UpdateProject(ctx context.Context, p *OrgProject, u ProjectUpdate) (*OrgProject, error) {
	if u.Name != nil {
		n, err := checkName(*u.Name)
		if err != nil {
			return nil, err
		}
		u.Name = &n
	}
	if u.Slug != nil {
		if _, err := slugOf(*u.Slug, ""); err != nil {
			return nil, err
		}
	}
	if u.Platform != nil && len(*u.Platform) > 64 {
		return nil, fmt.Errorf("%w: platform longer than 64 characters", ErrInvalid)
	}
	if u.AllowedOrigins != nil {
		if len(*u.AllowedOrigins) > 100 {
			return nil, fmt.Errorf("%w: at most 100 allowed domains", ErrInvalid)
		}
		for _, o := range *u.AllowedOrigins {
			if o == "" || len(o) > 255 || strings.ContainsAny(o, " \t\r\n,") {
				return nil, fmt.Errorf("%w: allowed domain %q", ErrInvalid, o)
			}
		}
	}
	scrubPatch, err := u.Scrub.patch()
	if err != nil {
		return nil, err
	}
	settingsPatch, err := u.Settings.patch(p.Settings)
	if err != nil {
		return nil, err
	}
	if t := u.Settings.SecurityToken; t != nil && !securityTokenRE.MatchString(*t) {
		return nil, fmt.Errorf("%w: securityToken: want 1 to 255 letters and digits", ErrInvalid)
	}
	// The scrubbing settings and the others change field by field in one
	// statement, so concurrent changes of different fields both hold.
	err = s.execOne(ctx, `UPDATE api.projects SET name = COALESCE($2, name), slug = COALESCE($3, slug),
		platform = COALESCE($4, platform), allowed_origins = COALESCE($5, allowed_origins),
		scrub = CASE WHEN $6::jsonb IS NULL THEN scrub ELSE COALESCE(scrub, $7::jsonb) || $6::jsonb END,
		settings = settings || COALESCE($8::jsonb, '{}'), security_token = COALESCE($9, security_token) WHERE id = $1`,
		p.ID, u.Name, u.Slug, u.Platform, u.AllowedOrigins, scrubPatch, defaultScrubJSON, settingsPatch, u.Settings.SecurityToken)
	if err != nil {
		if err == ErrConflict {
			return nil, fmt.Errorf("project %q: %w", *u.Slug, ErrConflict)
		}
		return nil, fmt.Errorf("update project: %w", err)
	}
	return s.OrgProject(ctx, p.Org.ID, fmt.Sprint(p.ID))
}

// DeleteProject deletes a project and its keys; the keys leave the gateway's
// bucket through the NOTIFY trigger.
func (s *Store) DeleteProject(ctx context.Context, id int64) error {
	return s.deleteProjects(ctx, `DELETE FROM api.projects WHERE id = $1`, `SELECT $1::bigint`, id)
}

// SetProjectTeam gives a project to a team or takes it away.
func (s *Store) SetProjectTeam(ctx context.Context, projectID, teamID int64, in bool) error {
	if in {
		_, err := s.pool.Exec(ctx, `INSERT INTO api.project_teams (project_id, team_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, projectID, teamID)
		return err
	}
	return s.execOne(ctx, `DELETE FROM api.project_teams WHERE project_id = $1 AND team_id = $2`, projectID, teamID)
}
