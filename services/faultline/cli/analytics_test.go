package cli_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/clickhouse/chtest"
	"github.com/faultline/faultline/libs/pg"
	"github.com/faultline/faultline/libs/pg/pgtest"
	"github.com/faultline/faultline/services/faultline/cli"
)

// The test binary's ClickHouse server, if a test starts one, stops with it.
func TestMain(m *testing.M) { chtest.Main(m) }

// bearerGet is GET with a bearer token.
func bearerGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// serveRoles runs 'faultline serve --roles roles' with vars until the test
// ends and returns its base URL once /healthz answers.
func serveRoles(t *testing.T, roles string, vars map[string]string) string {
	t.Helper()
	port := freePort(t)
	vars["HOST"], vars["PORT"] = "127.0.0.1", strconv.Itoa(port)
	vars["NATS_LISTEN"], vars["DATA_DIR"], vars["LOG_LEVEL"] = "127.0.0.1:"+strconv.Itoa(freePort(t)), t.TempDir(), "error"
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, []string{"serve", "--roles", roles}, func(k string) string { return vars[k] }, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	eventually(t, "/healthz answers", 30*time.Second, func() bool {
		code, _ := get(base + "/healthz")
		return code == http.StatusOK
	})
	return base
}

// TestServeAPIReadsClickHouse: with CLICKHOUSE_URL the api role connects to
// ClickHouse and answers the analytics routes from the tables the analytics
// role creates; without it they answer 503 naming CLICKHOUSE_URL.
func TestServeAPIReadsClickHouse(t *testing.T) {
	db := pgtest.NewT(t)
	ctx := context.Background()
	pool, err := pg.Open(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pg.Migrate(ctx, pool, accounts.Migrations); err != nil {
		t.Fatal(err)
	}
	store := accounts.NewStore(pool, "http://faultline.test")
	u, err := store.CreateUser(ctx, accounts.NewUser{Email: "owner@example.test", Name: "Owner", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateOrganization(ctx, u.ID, "Acme", "acme"); err != nil {
		t.Fatal(err)
	}
	_, token, err := store.CreateToken(ctx, accounts.NewToken{UserID: u.ID, Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	const path = "/api/0/organizations/acme/events/?field=count()&statsPeriod=1h"

	t.Run("without ClickHouse", func(t *testing.T) {
		base := serveRoles(t, "api", map[string]string{"DATABASE_URL": db.URL})
		var code int
		var body string
		eventually(t, "the api is ready", 30*time.Second, func() bool {
			code, body = bearerGet(t, base+path, token)
			return !strings.Contains(body, "database is not ready")
		})
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "CLICKHOUSE_URL") {
			t.Errorf("%d %s, want 503 naming CLICKHOUSE_URL", code, body)
		}
	})

	t.Run("with ClickHouse", func(t *testing.T) {
		base := serveRoles(t, "api,analytics", map[string]string{"DATABASE_URL": db.URL, "CLICKHOUSE_URL": chtest.NewDatabaseT(t)})
		var code int
		var body string
		eventually(t, "the events route answers from ClickHouse", 60*time.Second, func() bool {
			code, body = bearerGet(t, base+path, token)
			return code == http.StatusOK
		})
		if !strings.Contains(body, `"data":[`) || !strings.Contains(body, `"count()":"integer"`) {
			t.Errorf("events: %s", body)
		}
	})
}
