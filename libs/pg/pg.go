// Package pg owns Faultline's access to Postgres: opening a pool (creating the
// database if it is missing) and applying each service's embedded, forward-only
// migrations under an advisory lock.
package pg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Open connects to url, creating its database first when it does not exist.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if err := ensureDatabase(ctx, cfg.ConnConfig); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping postgres %s: %w", cfg.ConnConfig.Host, err)
	}
	return pool, nil
}

func ensureDatabase(ctx context.Context, cc *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err == nil {
		return conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return fmt.Errorf("connect to postgres: %w", err)
	}
	admin := cc.Copy()
	admin.Database = "postgres"
	conn, err = pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to postgres to create database %q: %w", cc.Database, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{cc.Database}.Sanitize())
	if err != nil && !isDuplicateDatabase(err) {
		return fmt.Errorf("create database %q: %w", cc.Database, err)
	}
	return nil
}

func isDuplicateDatabase(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505")
}

// Migrations are one service's SQL files: dir inside fsys holds files named
// NNNN_description.sql, applied in name order.
type Migrations struct {
	Service string
	FS      fs.FS
	Dir     string
}

const migrationsLockKey = 0x6661756c74 // "fault"

// Migrate applies the migrations not yet recorded, each in its own
// transaction, under an advisory lock so concurrent starts apply each once.
// It returns how many it applied.
func Migrate(ctx context.Context, pool *pgxpool.Pool, sets ...Migrations) (int, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationsLockKey); err != nil {
		return 0, fmt.Errorf("migrate: take lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationsLockKey)

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS public.faultline_migrations (
		service text NOT NULL,
		name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (service, name))`); err != nil {
		return 0, fmt.Errorf("migrate: create table: %w", err)
	}
	applied := 0
	for _, set := range sets {
		names, err := fs.Glob(set.FS, path.Join(set.Dir, "*.sql"))
		if err != nil {
			return applied, fmt.Errorf("migrate %s: %w", set.Service, err)
		}
		sort.Strings(names)
		for _, name := range names {
			base := path.Base(name)
			var done bool
			if err := conn.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM public.faultline_migrations WHERE service=$1 AND name=$2)`,
				set.Service, base).Scan(&done); err != nil {
				return applied, fmt.Errorf("migrate %s: %w", set.Service, err)
			}
			if done {
				continue
			}
			sql, err := fs.ReadFile(set.FS, name)
			if err != nil {
				return applied, fmt.Errorf("migrate %s: %w", set.Service, err)
			}
			err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, string(sql)); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `INSERT INTO public.faultline_migrations (service, name) VALUES ($1, $2)`, set.Service, base)
				return err
			})
			if err != nil {
				return applied, fmt.Errorf("migrate %s %s: %w", set.Service, strings.TrimSuffix(base, ".sql"), err)
			}
			applied++
		}
	}
	return applied, nil
}
