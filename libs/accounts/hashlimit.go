package accounts

import (
	"net/netip"
	"runtime"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// hashSlots bounds the argon2 computations running at once: each holds
// argonMemory (19 MiB), so a burst of sign-ins cannot take the process's
// memory; beyond the bound they queue. One per CPU keeps the CPU busy.
var hashSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// hashesRunning and hashesPeak are how many argon2 computations run now and
// the most that ever ran at once (for tests).
var hashesRunning, hashesPeak atomic.Int64

// argonKey is argon2.IDKey within hashSlots.
func argonKey(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	n := hashesRunning.Add(1)
	defer hashesRunning.Add(-1)
	for p := hashesPeak.Load(); n > p && !hashesPeak.CompareAndSwap(p, n); p = hashesPeak.Load() {
	}
	return argon2.IDKey(password, salt, time, memory, threads, keyLen)
}

// addressKey is what per-address limits count under: an IPv4 address, or
// the /64 of an IPv6 one, since one host usually holds a whole /64 and
// could otherwise step past a limit by changing address. Other keys (email
// addresses) are left as they are.
func addressKey(key string) string {
	a, err := netip.ParseAddr(key)
	if err != nil {
		return key
	}
	if a = a.Unmap(); a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}
