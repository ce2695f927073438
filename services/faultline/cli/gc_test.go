package cli

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	unset := func(string) string { return "" }
	for _, tc := range []struct {
		roles []string
		env   func(string) string
		want  int
		limit int64
	}{
		{[]string{"gateway"}, unset, 200, math.MaxInt64},
		{[]string{"gateway", "api", "web"}, unset, 200, math.MaxInt64},
		{rolesAll, unset, 100, groupingMemoryLimit},
		{[]string{"grouping"}, unset, 100, groupingMemoryLimit},
		// Set in the environment: left alone.
		{[]string{"gateway"}, func(k string) string { return map[string]string{"GOGC": "50"}[k] }, 100, math.MaxInt64},
		{rolesAll, func(k string) string { return map[string]string{"GOMEMLIMIT": "off"}[k] }, 100, math.MaxInt64},
	} {
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
		tuneGC(tc.env, tc.roles)
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("roles %v: GOGC %d, want %d", tc.roles, got, tc.want)
		}
		if got := debug.SetMemoryLimit(-1); got != tc.limit {
			t.Errorf("roles %v: memory limit %d, want %d", tc.roles, got, tc.limit)
		}
	}
}
