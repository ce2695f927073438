package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// healthcheck GETs a URL and fails unless the answer is 2xx: the probe of
// container images without a shell (compose's and Docker's HEALTHCHECK).
// Without a URL it asks this machine's /healthz on PORT.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := newFlags("healthcheck", out)
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var target string
	switch fs.NArg() {
	case 0:
		port := getenv("PORT")
		if port == "" {
			port = "8080"
		}
		target = "http://127.0.0.1:" + port + "/healthz"
	case 1:
		target = fs.Arg(0)
	default:
		return fmt.Errorf("healthcheck: want at most one URL, got %q", fs.Args())
	}
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		return fmt.Errorf("healthcheck: %q is not an http(s) URL", target)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("healthcheck: %s answered %s: %s", target, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
