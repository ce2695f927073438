package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/faultline/faultline/streams"
)

// Level is what a principal may do in an organisation: its role, capped by
// its token's scopes.
type Level int

// Levels, each including those below it.
const (
	LevelNone  Level = iota
	LevelRead        // viewer; scope read
	LevelWrite       // member; scope write
	LevelAdmin       // admin
	LevelOwner       // owner; scope admin does not cap below this
)

func (l Level) String() string {
	return [...]string{"none", "read", "write", "admin", "owner"}[l]
}

// RoleLevel is the level a role grants.
func RoleLevel(role string) Level {
	switch role {
	case RoleOwner:
		return LevelOwner
	case RoleAdmin:
		return LevelAdmin
	case RoleMember:
		return LevelWrite
	case RoleViewer:
		return LevelRead
	}
	return LevelNone
}

// scopeCap is the highest level a token's scopes allow.
func scopeCap(scopes []string) Level {
	l := LevelNone
	for _, s := range scopes {
		switch s {
		case ScopeRead:
			l = max(l, LevelRead)
		case ScopeWrite:
			l = max(l, LevelWrite)
		case ScopeAdmin:
			l = LevelOwner
		}
	}
	return l
}

// Principal is who makes a request: a user signed in with a session cookie,
// or a user's API token.
type Principal struct {
	User *User
	// Token is set when the request carries a bearer token.
	Token *Token
	// Session is the session token when the request is cookie-authenticated.
	Session string
}

// Actor is who decides, for decisions the principal makes.
func (p *Principal) Actor() streams.Actor {
	a := streams.Actor{}
	if p.User != nil {
		a.UserID, a.Name = p.User.ID, p.User.Email
	}
	if p.Token != nil {
		a.TokenID = p.Token.ID
	}
	return a
}

// Cap is the highest level the credentials allow, before roles.
func (p *Principal) Cap() Level {
	if p.Token != nil {
		return scopeCap(p.Token.Scopes)
	}
	return LevelOwner
}

// Orgs selects the organisations the principal may see.
func (p *Principal) Orgs() OrgFilter {
	f := OrgFilter{UserID: p.User.ID, AllOrgs: p.User.IsSuperuser}
	if p.Token != nil {
		f.OnlyOrg = p.Token.OrgID
	}
	return f
}

// Cookie names.
const (
	SessionCookie = "faultline_session"
	CSRFCookie    = "faultline_csrf"
	// CSRFHeader carries the CSRF token on cookie-authenticated requests
	// (Sentry's name); forms send the csrf_token field instead.
	CSRFHeader = "X-CSRFToken"
)

// Authenticator resolves principals and guards cookie sessions. The dashboard
// reuses it: Principal for who is asking, CheckCSRF for forms.
type Authenticator struct {
	store     func() *Store
	secret    []byte
	secure    bool
	publicURL *url.URL
	proxies   []netip.Prefix
}

// ErrUnauthenticated: no credentials, or bad ones.
var ErrUnauthenticated = errors.New("authentication credentials were not provided or are invalid")

// Principal returns who the request is from: a bearer token first, else the
// session cookie. ErrUnauthenticated when neither is valid; a bearer token
// that is revoked, expired or unknown never falls back to the cookie.
func (a *Authenticator) Principal(ctx context.Context, r *http.Request) (*Principal, error) {
	st := a.store()
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return nil, ErrUnauthenticated
		}
		t, u, err := st.TokenUser(ctx, strings.TrimSpace(tok))
		if errors.Is(err, ErrNotFound) {
			return nil, ErrUnauthenticated
		}
		if err != nil {
			return nil, err
		}
		return &Principal{User: u, Token: t}, nil
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, ErrUnauthenticated
	}
	u, err := st.SessionUser(ctx, c.Value)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	return &Principal{User: u, Session: c.Value}, nil
}

// CSRFToken is the token a session's state-changing requests must carry. It
// is derived from the session token, keyed with SESSION_SECRET_KEY when set,
// so nothing more is stored and another site cannot know it.
func (a *Authenticator) CSRFToken(session string) string {
	key := a.secret
	if len(key) == 0 {
		key = []byte(session)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("faultline csrf\x00" + session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var ErrCSRF = errors.New("CSRF check failed: send the token from the faultline_csrf cookie in the X-CSRFToken header")

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// CheckOrigin refuses a state-changing request whose Origin (or, lacking
// it, Referer) is another site than PUBLIC_URL. Requests without either
// header (non-browser clients) pass.
func (a *Authenticator) CheckOrigin(r *http.Request) error {
	if safeMethod(r.Method) {
		return nil
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		if ref := r.Header.Get("Referer"); ref != "" {
			if u, err := url.Parse(ref); err == nil {
				origin = u.Scheme + "://" + u.Host
			}
		}
	}
	if origin == "" {
		return nil
	}
	if !strings.EqualFold(origin, a.publicURL.Scheme+"://"+a.publicURL.Host) {
		return errors.New("CSRF check failed: request from another origin than PUBLIC_URL")
	}
	return nil
}

// CheckCSRF guards a cookie-authenticated state-changing request: the origin
// must be Faultline's and the CSRF token (header or csrf_token form field)
// must match the session. Bearer requests are not exposed to CSRF.
func (a *Authenticator) CheckCSRF(r *http.Request, p *Principal) error {
	if safeMethod(r.Method) || p == nil || p.Session == "" {
		return nil
	}
	if err := a.CheckOrigin(r); err != nil {
		return err
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		got = r.Header.Get("X-CSRF-Token")
	}
	if got == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		got = r.PostFormValue("csrf_token")
	}
	if got == "" || !hmac.Equal([]byte(got), []byte(a.CSRFToken(p.Session))) {
		return ErrCSRF
	}
	return nil
}

// SetSessionCookies starts a browser session: the HttpOnly session cookie
// and the CSRF cookie scripts read to send X-CSRFToken.
func (a *Authenticator) SetSessionCookies(w http.ResponseWriter, session string) {
	maxAge := int(sessionLifetime / time.Second)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: session, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: a.CSRFToken(session), Path: "/", MaxAge: maxAge,
		Secure: a.secure, SameSite: http.SameSiteLaxMode})
}

// ClearSessionCookies ends a browser session.
func (a *Authenticator) ClearSessionCookies(w http.ResponseWriter) {
	for _, name := range []string{SessionCookie, CSRFCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
			HttpOnly: name == SessionCookie, Secure: a.secure, SameSite: http.SameSiteLaxMode})
	}
}

// ClientIP is the request's peer, or the last untrusted X-Forwarded-For hop
// when the peer is a trusted proxy.
func (a *Authenticator) ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !a.trusted(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !a.trusted(ip) {
			return ip.Unmap().String()
		}
	}
	return host
}

func (a *Authenticator) trusted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range a.proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// attemptLimiter counts attempts per key. A window limiter allows max
// attempts per fixed window; a backoff limiter allows max attempts, then
// makes each next one wait twice as long as the last (1 s, 2 s, 4 s, … up
// to window), counted from the latest attempt and forgotten after a day
// without one. The counts are in Postgres (api.attempts), so every api and
// web process shares them: the limit holds however many replicas answer.
// A database error lets the attempt through (sign-in itself needs the
// database and fails anyway).
type attemptLimiter struct {
	scope   string
	max     int
	window  time.Duration
	backoff bool
	now     func() time.Time
	adds    atomic.Uint64
}

func newAttemptLimiter(scope string, max int, window time.Duration) *attemptLimiter {
	return &attemptLimiter{scope: scope, max: max, window: window, now: time.Now}
}

// backoffForget is how long a backoff limiter remembers attempts.
const backoffForget = 24 * time.Hour

func newBackoffLimiter(scope string, free int, maxDelay time.Duration) *attemptLimiter {
	return &attemptLimiter{scope: scope, max: free, window: maxDelay, backoff: true, now: time.Now}
}

// delay is how long a backoff limiter makes the attempt after n wait.
func (l *attemptLimiter) delay(n int) time.Duration {
	if n < l.max {
		return 0
	}
	if n-l.max >= 30 {
		return l.window
	}
	return min(time.Second<<(n-l.max), l.window)
}

func attemptKey(key string) []byte {
	h := sha256.Sum256([]byte(addressKey(key)))
	return h[:]
}

// blocked reports whether key has used up its attempts, and for how long.
func (l *attemptLimiter) blocked(ctx context.Context, s *Store, key string) (time.Duration, bool) {
	var start time.Time
	var n int
	err := s.pool.QueryRow(ctx, `SELECT window_start, n FROM api.attempts WHERE scope = $1 AND key_hash = $2`,
		l.scope, attemptKey(key)).Scan(&start, &n)
	if err != nil {
		return 0, false
	}
	now := l.now()
	if l.backoff {
		wait := start.Add(l.delay(n)).Sub(now)
		if now.Sub(start) >= backoffForget || wait <= 0 {
			return 0, false
		}
		return wait, true
	}
	if now.Sub(start) >= l.window || n < l.max {
		return 0, false
	}
	return start.Add(l.window).Sub(now), true
}

// add records an attempt: in a window limiter, starting a new window when
// the last one is over; in a backoff limiter, as the latest attempt.
func (l *attemptLimiter) add(ctx context.Context, s *Store, key string) {
	now := l.now()
	var err error
	if l.backoff {
		_, err = s.pool.Exec(ctx, `INSERT INTO api.attempts AS a (scope, key_hash, window_start, n) VALUES ($1, $2, $3, 1)
		ON CONFLICT (scope, key_hash) DO UPDATE SET
			n = CASE WHEN a.window_start <= $3 - $4::interval THEN 1 ELSE a.n + 1 END, window_start = $3`,
			l.scope, attemptKey(key), now, backoffForget)
	} else {
		_, err = s.pool.Exec(ctx, `INSERT INTO api.attempts AS a (scope, key_hash, window_start, n) VALUES ($1, $2, $3, 1)
		ON CONFLICT (scope, key_hash) DO UPDATE SET
			n = CASE WHEN a.window_start <= $3 - $4::interval THEN 1 ELSE a.n + 1 END,
			window_start = CASE WHEN a.window_start <= $3 - $4::interval THEN $3 ELSE a.window_start END`,
			l.scope, attemptKey(key), now, l.window)
	}
	if err != nil {
		return
	}
	if l.adds.Add(1)%1000 == 0 {
		// Now and then, forget attempts long over.
		s.pool.Exec(ctx, `DELETE FROM api.attempts WHERE window_start < $1`, now.Add(-backoffForget-l.window))
	}
}

// reset forgets key (after a successful sign-in).
func (l *attemptLimiter) reset(ctx context.Context, s *Store, key string) {
	s.pool.Exec(ctx, `DELETE FROM api.attempts WHERE scope = $1 AND key_hash = $2`, l.scope, attemptKey(key))
}
