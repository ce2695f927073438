package deploy

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

func TestDockerfile(t *testing.T) {
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ast, err := parser.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	stages, metaArgs, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = metaArgs
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a final one", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	// The build: CGO off, so the binary is static.
	cgoOff, built := false, false
	for _, c := range build.Commands {
		switch c := c.(type) {
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				if kv.Key == "CGO_ENABLED" && kv.Value == "0" {
					cgoOff = true
				}
			}
		case *instructions.RunCommand:
			line := strings.Join(c.CmdLine, " ")
			if strings.Contains(line, "CGO_ENABLED=0") {
				cgoOff = true
			}
			if strings.Contains(line, "go build") && strings.Contains(line, "./services/faultline") {
				built = true
				if !cgoOff {
					t.Error("go build runs before CGO_ENABLED=0 is set")
				}
			}
		}
	}
	if !built || !cgoOff {
		t.Errorf("build stage: go build of ./services/faultline %v, CGO_ENABLED=0 %v", built, cgoOff)
	}

	// The final image: no shell, nothing run in it, a numeric non-root user.
	base := final.BaseName
	if base != "scratch" && !strings.HasPrefix(base, "gcr.io/distroless/static") {
		t.Errorf("final stage FROM %s, want scratch or distroless/static", base)
	}
	var user string
	var entrypoint, healthcheck []string
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.RunCommand:
			t.Errorf("final stage runs %q: it has no shell", c.CmdLine)
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				t.Error("ENTRYPOINT in shell form needs a shell")
			}
			entrypoint = c.CmdLine
		case *instructions.HealthCheckCommand:
			healthcheck = c.Health.Test
		case *instructions.CmdCommand:
			if c.PrependShell {
				t.Error("CMD in shell form needs a shell")
			}
		case *instructions.CopyCommand:
			if c.From != "" && c.From != build.Name {
				t.Errorf("final stage copies from %q", c.From)
			}
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q, want a numeric non-root uid (Kubernetes' runAsNonRoot checks numbers)", user)
	}
	if len(entrypoint) != 1 || entrypoint[0] != "/usr/local/bin/faultline" {
		t.Errorf("ENTRYPOINT %q", entrypoint)
	}
	if len(healthcheck) < 3 || healthcheck[0] != "CMD" || healthcheck[1] != "/usr/local/bin/faultline" || healthcheck[2] != "healthcheck" {
		t.Errorf("HEALTHCHECK %q, want the binary's healthcheck in exec form", healthcheck)
	}
}
