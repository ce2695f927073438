package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/crypto/argon2"
)

// Errors the store returns; the REST layer maps them to status codes.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
)

// User is a person who signs in.
type User struct {
	ID           int64
	Email        string
	Name         string
	IsSuperuser  bool
	IsActive     bool
	CreatedAt    time.Time
	LastLoginAt  *time.Time
	passwordHash string
}

// Roles a member has in an organisation, from most to least powerful.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
	RoleViewer = "viewer"
)

// Roles lists the roles, most powerful first.
var Roles = []string{RoleOwner, RoleAdmin, RoleMember, RoleViewer}

// ValidRole reports whether role is one of Roles.
func ValidRole(role string) bool {
	for _, r := range Roles {
		if r == role {
			return true
		}
	}
	return false
}

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 8

// NormalizeEmail checks an address and returns it lower-cased, without a
// display name.
func NormalizeEmail(s string) (string, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil || a.Name != "" || len(a.Address) > 254 {
		return "", fmt.Errorf("%w: %q is not an email address", ErrInvalid, s)
	}
	return strings.ToLower(a.Address), nil
}

func checkPassword(p string) error {
	if len(p) < MinPasswordLength {
		return fmt.Errorf("%w: the password needs at least %d characters", ErrInvalid, MinPasswordLength)
	}
	if len(p) > 1024 {
		return fmt.Errorf("%w: the password is longer than 1024 bytes", ErrInvalid)
	}
	return nil
}

// argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// HashPassword returns an argon2id hash in PHC string form.
func HashPassword(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argonKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// dummyHash is compared against when a user does not exist, so sign-in takes
// as long for unknown addresses as for known ones.
// It is made on first use: hashing at start would cost every process, even
// a gateway that never signs anyone in, argon2's 19 MiB and its CPU.
var dummyHash = sync.OnceValue(func() string { return HashPassword("faultline dummy password") })

// VerifyPassword reports whether password matches a HashPassword hash.
func VerifyPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	var mem, t uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &threads); err != nil || mem > 1<<20 || t > 10 || threads == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argonKey([]byte(password), salt, t, mem, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// newSecret returns a random token with a readable prefix, and its hash.
func newSecret(prefix string) (string, []byte) {
	b := make([]byte, 32)
	rand.Read(b)
	tok := prefix + base64.RawURLEncoding.EncodeToString(b)
	return tok, hashSecret(tok)
}

func hashSecret(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

const userColumns = `u.id, u.email, u.name, u.is_superuser, u.is_active, u.created_at, u.last_login_at, u.password_hash`

// dest is where a row of userColumns is scanned.
func (u *User) dest() []any {
	return []any{&u.ID, &u.Email, &u.Name, &u.IsSuperuser, &u.IsActive, &u.CreatedAt, &u.LastLoginAt, &u.passwordHash}
}

func scanUser(row pgx.Row) (*User, error) {
	var u User
	if err := row.Scan(u.dest()...); err != nil {
		return nil, notFound(err)
	}
	return &u, nil
}

// NewUser is what CreateUser needs.
type NewUser struct {
	Email, Name, Password string
	Superuser             bool
}

// CreateUser creates a user with a hashed password. An existing email is
// ErrConflict.
func (s *Store) CreateUser(ctx context.Context, nu NewUser) (*User, error) {
	email, err := NormalizeEmail(nu.Email)
	if err != nil {
		return nil, err
	}
	if err := checkPassword(nu.Password); err != nil {
		return nil, err
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `
		INSERT INTO api.users AS u (email, name, password_hash, is_superuser) VALUES ($1, $2, $3, $4)
		RETURNING `+userColumns, email, strings.TrimSpace(nu.Name), HashPassword(nu.Password), nu.Superuser))
	if isUniqueViolation(err) {
		return nil, fmt.Errorf("user %s: %w", email, ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("create user %s: %w", email, err)
	}
	return u, nil
}

// EnsureSuperuser creates an admin when the database has no users yet, as
// CREATE_SUPERUSER asks. It reports whether it created one.
func (s *Store) EnsureSuperuser(ctx context.Context, email, password string) (bool, error) {
	created := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Serialise concurrent starts of several api replicas.
		if _, err := tx.Exec(ctx, `LOCK TABLE api.users IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		var any bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api.users)`).Scan(&any); err != nil {
			return err
		}
		if any {
			return nil
		}
		addr, err := NormalizeEmail(email)
		if err != nil {
			return err
		}
		if err := checkPassword(password); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO api.users (email, password_hash, is_superuser) VALUES ($1, $2, true)`,
			addr, HashPassword(password))
		created = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("create superuser: %w", err)
	}
	return created, nil
}

// UserByEmail returns the user with that address.
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM api.users u WHERE u.email = lower($1)`, strings.TrimSpace(email)))
}

// Authenticate returns the active user whose email and password match, or
// ErrNotFound. It takes the same time whether or not the user exists.
func (s *Store) Authenticate(ctx context.Context, email, password string) (*User, error) {
	u, err := s.UserByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		VerifyPassword(dummyHash(), password)
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if !VerifyPassword(u.passwordHash, password) || !u.IsActive {
		return nil, ErrNotFound
	}
	return u, nil
}

// SetPassword replaces a user's password, ends every session of theirs and
// revokes their API tokens: whoever took the old password may have minted
// some.
func (s *Store) SetPassword(ctx context.Context, userID int64, password string, keepTokens bool) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE api.users SET password_hash = $2 WHERE id = $1`, userID, HashPassword(password)); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM api.sessions WHERE user_id = $1`, userID); err != nil {
			return err
		}
		if keepTokens {
			return nil
		}
		_, err := tx.Exec(ctx, `DELETE FROM api.api_tokens WHERE user_id = $1`, userID)
		return err
	})
}

// Session lifetime: a signed-in browser stays signed in this long.
const sessionLifetime = 14 * 24 * time.Hour

// CreateSession starts a session for the user and returns its token; only
// the token's hash is stored.
func (s *Store) CreateSession(ctx context.Context, userID int64, userAgent, ip string) (string, error) {
	tok, hash := newSecret("")
	if len(userAgent) > 512 {
		userAgent = userAgent[:512]
	}
	_, err := s.pool.Exec(ctx, `
		WITH login AS (UPDATE api.users SET last_login_at = now() WHERE id = $2)
		INSERT INTO api.sessions (token_hash, user_id, expires_at, user_agent, ip) VALUES ($1, $2, $3, $4, $5)`,
		hash, userID, time.Now().Add(sessionLifetime), strings.ToValidUTF8(userAgent, ""), ip)
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	// Expired sessions are swept now and then, not on a timer.
	if hash[0] == 0 {
		s.pool.Exec(ctx, `DELETE FROM api.sessions WHERE expires_at < now()`)
	}
	return tok, nil
}

// SessionUser returns the active user of an unexpired session.
func (s *Store) SessionUser(ctx context.Context, token string) (*User, error) {
	return scanUser(s.pool.QueryRow(ctx, `
		SELECT `+userColumns+` FROM api.sessions se JOIN api.users u ON u.id = se.user_id
		WHERE se.token_hash = $1 AND se.expires_at > now() AND u.is_active`, hashSecret(token)))
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM api.sessions WHERE token_hash = $1`, hashSecret(token))
	return err
}

// Token scopes. A token can do what its user can, capped by its highest scope.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
	ScopeAdmin = "admin"
)

// Token is an API token's record; the token itself is never stored.
type Token struct {
	ID         int64
	UserID     int64
	Name       string
	Scopes     []string
	OrgID      int64 // 0: any organisation of the user
	OrgSlug    string
	ProjectID  int64 // 0: any project
	Project    string
	LastChars  string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// tokenPrefix marks Faultline's user tokens, so secret scanners can find
// them.
const tokenPrefix = "flt_"

// ParseScopes turns requested scopes into Faultline's three: read, write,
// admin. Sentry's resource scopes (org:read, project:write, event:admin,
// project:releases, ...) map to their level.
func ParseScopes(in []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, raw := range in {
		for _, sc := range strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == ' ' }) {
			level := sc
			if _, after, ok := strings.Cut(sc, ":"); ok {
				level = after
				if after == "releases" {
					level = ScopeWrite
				}
			}
			if level != ScopeRead && level != ScopeWrite && level != ScopeAdmin {
				return nil, fmt.Errorf("%w: unknown scope %q (want read, write or admin)", ErrInvalid, sc)
			}
			if !seen[level] {
				seen[level] = true
				out = append(out, level)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: a token needs at least one scope", ErrInvalid)
	}
	return out, nil
}

// NewToken is what CreateToken needs.
type NewToken struct {
	UserID    int64
	Name      string
	Scopes    []string
	OrgID     int64
	ProjectID int64
	ExpiresAt *time.Time
}

// CreateToken creates an API token and returns it; this is the only time
// the token is available.
func (s *Store) CreateToken(ctx context.Context, nt NewToken) (*Token, string, error) {
	scopes, err := ParseScopes(nt.Scopes)
	if err != nil {
		return nil, "", err
	}
	if len(nt.Name) > 200 {
		return nil, "", fmt.Errorf("%w: name longer than 200 characters", ErrInvalid)
	}
	tok, hash := newSecret(tokenPrefix)
	var id int64
	err = s.pool.QueryRow(ctx, `
		INSERT INTO api.api_tokens (user_id, token_hash, last_chars, name, scopes, organization_id, project_id, expires_at)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, 0::bigint), NULLIF($7, 0::bigint), $8) RETURNING id`,
		nt.UserID, hash, tok[len(tok)-4:], strings.TrimSpace(nt.Name), scopes, nt.OrgID, nt.ProjectID, nt.ExpiresAt).Scan(&id)
	if err != nil {
		return nil, "", fmt.Errorf("create token: %w", err)
	}
	t, err := s.tokenWhere(ctx, `t.id = $1`, id)
	return t, tok, err
}

const tokenColumns = `t.id, t.user_id, t.name, t.scopes, COALESCE(t.organization_id, 0), COALESCE(o.slug, ''),
	COALESCE(t.project_id, 0), COALESCE(p.slug, ''), t.last_chars, t.created_at, t.expires_at, t.last_used_at, t.revoked_at`

const tokenFrom = ` FROM api.api_tokens t
	LEFT JOIN api.organizations o ON o.id = t.organization_id
	LEFT JOIN api.projects p ON p.id = t.project_id `

// dest is where a row of tokenColumns is scanned.
func (t *Token) dest() []any {
	return []any{&t.ID, &t.UserID, &t.Name, &t.Scopes, &t.OrgID, &t.OrgSlug, &t.ProjectID, &t.Project,
		&t.LastChars, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt}
}

func scanToken(row pgx.Row) (*Token, error) {
	var t Token
	if err := row.Scan(t.dest()...); err != nil {
		return nil, notFound(err)
	}
	return &t, nil
}

func (s *Store) tokenWhere(ctx context.Context, where string, args ...any) (*Token, error) {
	return scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+tokenFrom+` WHERE `+where, args...))
}

// TokenUser resolves a bearer token to its token and active user. Revoked,
// expired and unknown tokens are ErrNotFound.
func (s *Store) TokenUser(ctx context.Context, token string) (*Token, *User, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 100 {
		return nil, nil, ErrNotFound
	}
	// One query for both: it runs before every request a token makes.
	t, u := new(Token), new(User)
	err := s.pool.QueryRow(ctx, `SELECT `+tokenColumns+`, `+userColumns+tokenFrom+`
		JOIN api.users u ON u.id = t.user_id AND u.is_active
		WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())`,
		hashSecret(token)).Scan(append(t.dest(), u.dest()...)...)
	if err != nil {
		return nil, nil, notFound(err)
	}
	// Last use is recorded at minute precision, to spare a write per request.
	if t.LastUsedAt == nil || time.Since(*t.LastUsedAt) > time.Minute {
		s.pool.Exec(ctx, `UPDATE api.api_tokens SET last_used_at = now() WHERE id = $1`, t.ID)
	}
	return t, u, nil
}

// Tokens lists a user's tokens that are not revoked, newest first.
func (s *Store) Tokens(ctx context.Context, userID int64, limit, offset int) ([]*Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+tokenFrom+`
		WHERE t.user_id = $1 AND t.revoked_at IS NULL ORDER BY t.id DESC LIMIT $2 OFFSET $3`, userID, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []*Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes one of the user's tokens.
func (s *Store) RevokeToken(ctx context.Context, userID, tokenID int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api.api_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, tokenID, userID)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// Password resets and invitations are valid this long.
const (
	resetLifetime  = 2 * time.Hour
	inviteLifetime = 3 * 24 * time.Hour
)

// CreatePasswordReset returns a reset token for the active user with that
// email, or ErrNotFound.
func (s *Store) CreatePasswordReset(ctx context.Context, email string) (*User, string, error) {
	u, err := s.UserByEmail(ctx, email)
	if err != nil {
		return nil, "", err
	}
	if !u.IsActive {
		return nil, "", ErrNotFound
	}
	tok, hash := newSecret("")
	_, err = s.pool.Exec(ctx, `INSERT INTO api.password_resets (token_hash, user_id, expires_at) VALUES ($1, $2, $3)`,
		hash, u.ID, time.Now().Add(resetLifetime))
	if err != nil {
		return nil, "", fmt.Errorf("create password reset: %w", err)
	}
	return u, tok, nil
}

// ResetPassword spends a reset token on a new password. Every session of
// the user ends and every other reset token of theirs is spent too.
func (s *Store) ResetPassword(ctx context.Context, token, password string, keepTokens bool) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	var userID int64
	err := s.pool.QueryRow(ctx, `
		UPDATE api.password_resets SET used_at = now()
		WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
		RETURNING user_id`, hashSecret(token)).Scan(&userID)
	if err != nil {
		return notFound(err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE api.password_resets SET used_at = now() WHERE user_id = $1 AND used_at IS NULL`, userID); err != nil {
		return err
	}
	return s.SetPassword(ctx, userID, password, keepTokens)
}
