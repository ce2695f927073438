package cli_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/pg/pgtest"
	"github.com/faultline/faultline/services/faultline/cli"
)

func TestServeRolesFlag(t *testing.T) {
	err := cli.Run(context.Background(), []string{"serve", "--roles", "gateway,bogus"}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `unknown role "bogus"`) {
		t.Fatalf("serve --roles gateway,bogus: err %v, want unknown role", err)
	}

	db := pgtest.NewT(t)
	port := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	vars := map[string]string{"DATABASE_URL": db.URL, "HOST": "127.0.0.1", "PORT": strconv.Itoa(port),
		"DATA_DIR": t.TempDir(), "LOG_LEVEL": "error"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, []string{"serve", "--roles", "gateway"}, func(k string) string { return vars[k] }, io.Discard)
	}()
	eventually(t, "/healthz answers", 30*time.Second, func() bool {
		code, _ := get(base + "/healthz")
		return code == http.StatusOK
	})
	// The gateway's routes are there; the dashboard's and the REST API's are not.
	if code, _ := get(base + "/api/1/envelope/"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/1/envelope/ with --roles gateway: %d, want 405 (the route exists)", code)
	}
	for _, path := range []string{"/", "/api/0/organizations/"} {
		if code, _ := get(base + path); code != http.StatusNotFound {
			t.Errorf("GET %s with --roles gateway: %d, want 404", path, code)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
