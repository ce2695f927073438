package accounts

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/pg/pgtest"
)

func TestPasswordHash(t *testing.T) {
	h := HashPassword("s3cret password")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not argon2id in PHC form", h)
	}
	if h == HashPassword("s3cret password") {
		t.Error("two hashes of one password are equal: no salt?")
	}
	tests := []struct {
		hash, password string
		want           bool
	}{
		{h, "s3cret password", true},
		{h, "s3cret passwore", false},
		{h, "", false},
		{"", "s3cret password", false},
		{strings.Replace(h, "argon2id", "argon2i", 1), "s3cret password", false},
		{strings.Replace(h, "m=19456", "m=99999999", 1), "s3cret password", false},
	}
	for _, tt := range tests {
		if got := VerifyPassword(tt.hash, tt.password); got != tt.want {
			t.Errorf("VerifyPassword(%q, %q) = %v, want %v", tt.hash, tt.password, got, tt.want)
		}
	}
}

func TestParseScopes(t *testing.T) {
	tests := []struct {
		in      []string
		want    []string
		wantErr bool
	}{
		{[]string{"read"}, []string{"read"}, false},
		{[]string{"read,write"}, []string{"read", "write"}, false},
		{[]string{"org:read", "project:write", "project:releases", "event:admin"}, []string{"read", "write", "admin"}, false},
		{[]string{"read", "read"}, []string{"read"}, false},
		{[]string{"root"}, nil, true},
		{[]string{"project:delete"}, nil, true},
		{nil, nil, true},
		{[]string{" , "}, nil, true},
	}
	for _, tt := range tests {
		got, err := ParseScopes(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("ParseScopes(%q) = %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestScopeCapAndRoles(t *testing.T) {
	if got := scopeCap([]string{"read"}); got != LevelRead {
		t.Errorf("read caps at %v", got)
	}
	if got := scopeCap([]string{"read", "write"}); got != LevelWrite {
		t.Errorf("write caps at %v", got)
	}
	if got := scopeCap([]string{"admin"}); got != LevelOwner {
		t.Errorf("admin caps at %v", got)
	}
	for role, want := range map[string]Level{"owner": LevelOwner, "admin": LevelAdmin, "member": LevelWrite, "viewer": LevelRead, "guest": LevelNone} {
		if got := RoleLevel(role); got != want {
			t.Errorf("RoleLevel(%q) = %v, want %v", role, got, want)
		}
	}
}

func TestAttemptLimiter(t *testing.T) {
	db := pgtest.NewT(t, Migrations)
	s := NewStore(db.Pool, "http://faultline.example/")
	ctx := context.Background()
	now := time.Unix(1_000_000, 0)
	// Two processes: their limiters share the counts.
	l, other := newAttemptLimiter("test", 3, time.Minute), newAttemptLimiter("test", 3, time.Minute)
	l.now = func() time.Time { return now }
	other.now = l.now
	for i := 0; i < 3; i++ {
		if _, blocked := l.blocked(ctx, s, "a"); blocked {
			t.Fatalf("blocked after %d attempts", i)
		}
		if i%2 == 0 {
			l.add(ctx, s, "a")
		} else {
			other.add(ctx, s, "a")
		}
	}
	for _, lim := range []*attemptLimiter{l, other} {
		wait, blocked := lim.blocked(ctx, s, "a")
		if !blocked || wait != time.Minute {
			t.Errorf("after 3 attempts in two processes: blocked=%v wait=%v", blocked, wait)
		}
	}
	if _, blocked := l.blocked(ctx, s, "b"); blocked {
		t.Error("another key is blocked")
	}
	if _, blocked := newAttemptLimiter("elsewhere", 3, time.Minute).blocked(ctx, s, "a"); blocked {
		t.Error("another scope is blocked")
	}
	now = now.Add(time.Minute)
	if _, blocked := l.blocked(ctx, s, "a"); blocked {
		t.Error("still blocked after the window")
	}
	l.add(ctx, s, "a") // a new window
	if _, blocked := l.blocked(ctx, s, "a"); blocked {
		t.Error("blocked after one attempt in a new window")
	}
	l.add(ctx, s, "a")
	l.add(ctx, s, "a")
	if _, blocked := l.blocked(ctx, s, "a"); !blocked {
		t.Error("not blocked after 3 attempts in the new window")
	}
	l.reset(ctx, s, "a")
	if _, blocked := l.blocked(ctx, s, "a"); blocked {
		t.Error("blocked after reset")
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM api.attempts WHERE key_hash = convert_to('a', 'UTF8')`).Scan(&n); err != nil || n != 0 {
		t.Errorf("a key stored as text: %d rows (%v)", n, err)
	}
}

// TestBackoffLimiter: five free attempts, then each waits twice as long as
// the last, from the latest attempt, capped; a day without attempts
// forgets them, and a reset too.
func TestBackoffLimiter(t *testing.T) {
	db := pgtest.NewT(t, Migrations)
	s := NewStore(db.Pool, "http://faultline.example/")
	ctx := context.Background()
	now := time.Unix(2_000_000, 0)
	l := newBackoffLimiter("test_backoff", 5, 15*time.Minute)
	l.now = func() time.Time { return now }
	for i := 0; i < 5; i++ {
		if wait, blocked := l.blocked(ctx, s, "k"); blocked {
			t.Fatalf("blocked (%v) after %d attempts", wait, i)
		}
		l.add(ctx, s, "k")
	}
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		wait, blocked := l.blocked(ctx, s, "k")
		if !blocked || wait != want {
			t.Fatalf("wait %v blocked %v, want %v", wait, blocked, want)
		}
		now = now.Add(want - time.Millisecond)
		if _, blocked := l.blocked(ctx, s, "k"); !blocked {
			t.Fatalf("not blocked just before %v", want)
		}
		now = now.Add(time.Millisecond)
		if _, blocked := l.blocked(ctx, s, "k"); blocked {
			t.Fatalf("still blocked after %v", want)
		}
		l.add(ctx, s, "k")
	}
	for i := 0; i < 20; i++ {
		l.add(ctx, s, "k")
	}
	if wait, _ := l.blocked(ctx, s, "k"); wait != 15*time.Minute {
		t.Errorf("after many attempts: wait %v, want the 15 min cap", wait)
	}
	now = now.Add(backoffForget)
	if _, blocked := l.blocked(ctx, s, "k"); blocked {
		t.Error("blocked after a day without attempts")
	}
	l.add(ctx, s, "k")
	if _, blocked := l.blocked(ctx, s, "k"); blocked {
		t.Error("a day later, one attempt counts as the first")
	}
	for i := 0; i < 6; i++ {
		l.add(ctx, s, "k")
	}
	l.reset(ctx, s, "k")
	if _, blocked := l.blocked(ctx, s, "k"); blocked {
		t.Error("blocked after reset")
	}
}

func FuzzParseScopes(f *testing.F) {
	for _, s := range []string{"read", "org:read,project:write", "admin write", ":", "x:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseScopes([]string{s})
		if err != nil {
			return
		}
		if len(got) == 0 || len(got) > 3 {
			t.Fatalf("ParseScopes(%q) = %q", s, got)
		}
		for _, sc := range got {
			if sc != ScopeRead && sc != ScopeWrite && sc != ScopeAdmin {
				t.Fatalf("ParseScopes(%q) gave %q", s, sc)
			}
		}
	})
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"a@b.c", "A <a@b.c>", "no", "x@y\r\nBcc: z@w"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := NormalizeEmail(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(e, "\r\n") || e != strings.ToLower(e) || !strings.Contains(e, "@") {
			t.Fatalf("NormalizeEmail(%q) = %q", s, e)
		}
	})
}
