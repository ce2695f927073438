package streams_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/faultline/faultline/"

// goList runs go list with args and returns the packages it prints.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.Fields(string(out))
}

// TestRolesDoNotImportRoles: a role (a package under services/, but the
// faultline binary that assembles them) never imports another; what two
// roles share is a wire contract here in streams, or a library under libs,
// and neither of those imports a role.
func TestRolesDoNotImportRoles(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	roles := map[string]bool{}
	for _, p := range goList(t, module+"services/...") {
		r, _, _ := strings.Cut(strings.TrimPrefix(p, module+"services/"), "/")
		if r != "faultline" {
			roles[r] = true
		}
	}
	for _, want := range []string{"gateway", "grouping", "api", "web", "sourcemaps", "alerting", "analytics"} {
		if !roles[want] {
			t.Errorf("role %s not found under services/", want)
		}
	}
	for r := range roles {
		t.Run(r, func(t *testing.T) {
			for _, dep := range goList(t, "-deps", module+"services/"+r+"/...") {
				other, ok := strings.CutPrefix(dep, module+"services/")
				if ok && other != r && !strings.HasPrefix(other, r+"/") {
					t.Errorf("role %s imports role package %s", r, dep)
				}
			}
		})
	}
	t.Run("libs and streams", func(t *testing.T) {
		for _, dep := range goList(t, "-deps", module+"libs/...", module+"streams") {
			if strings.HasPrefix(dep, module+"services/") {
				t.Errorf("a library imports role package %s", dep)
			}
		}
	})
}
