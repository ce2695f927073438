package streams_test

import (
	"os/exec"
	"strings"
	"testing"
)

// roles are the packages of the long-running roles. A role never imports
// another: what two roles share is a wire contract here in streams, or a
// library under libs.
// The dashboard (services/web) is not listed yet: it still shares the REST
// API's accounts and issues stores through services/api.
var roles = []string{"gateway", "grouping", "api"}

func TestRolesDoNotImportRoles(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	for _, r := range roles {
		t.Run(r, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "github.com/faultline/faultline/services/"+r).CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				other, ok := strings.CutPrefix(dep, "github.com/faultline/faultline/services/")
				if ok && other != r && !strings.HasPrefix(other, r+"/") {
					t.Errorf("role %s imports role package %s", r, dep)
				}
			}
		})
	}
}
