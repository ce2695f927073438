package cli

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	unset := func(string) string { return "" }
	for _, tc := range []struct {
		roles []string
		env   func(string) string
		want  int
	}{
		{[]string{"gateway"}, unset, 200},
		{[]string{"gateway", "api", "web"}, unset, 200},
		{rolesAll, unset, 100},
		{[]string{"grouping"}, unset, 100},
		{[]string{"gateway"}, func(k string) string { return map[string]string{"GOGC": "50"}[k] }, 100}, // left alone
	} {
		debug.SetGCPercent(100)
		tuneGC(tc.env, tc.roles)
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("roles %v: GOGC %d, want %d", tc.roles, got, tc.want)
		}
	}
}
