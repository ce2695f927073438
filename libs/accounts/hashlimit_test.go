package accounts

import (
	"bytes"
	"sync"
	"testing"
)

// TestPasswordHashingBounded: many sign-ins at once run at most
// cap(hashSlots) argon2 computations together.
func TestPasswordHashingBounded(t *testing.T) {
	hash := HashPassword("correct horse")
	var wg sync.WaitGroup
	for range 4 * cap(hashSlots) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !VerifyPassword(hash, "correct horse") {
				t.Error("password not verified")
			}
		}()
	}
	wg.Wait()
	if peak := hashesPeak.Load(); peak > int64(cap(hashSlots)) || peak < 1 {
		t.Errorf("%d hashes ran at once, want 1 to %d", peak, cap(hashSlots))
	}
}

func TestAddressKeyGroupsIPv6By64(t *testing.T) {
	same := [][2]string{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
	}
	for _, p := range same {
		if !bytes.Equal(attemptKey(p[0]), attemptKey(p[1])) {
			t.Errorf("%s and %s count apart", p[0], p[1])
		}
	}
	differ := [][2]string{
		{"2001:db8:1:2::1", "2001:db8:1:3::1"},
		{"192.0.2.1", "192.0.2.2"},
		{"a@example.com", "b@example.com"},
	}
	for _, p := range differ {
		if bytes.Equal(attemptKey(p[0]), attemptKey(p[1])) {
			t.Errorf("%s and %s count together", p[0], p[1])
		}
	}
}
