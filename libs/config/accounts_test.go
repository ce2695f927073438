package config

import (
	"strings"
	"testing"
)

func TestAccountVariables(t *testing.T) {
	key := strings.Repeat("x", 64)
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // substring; "" means valid
		check   func(t *testing.T, c Config)
	}{
		{"defaults", nil, "", func(t *testing.T, c Config) {
			if c.CreateSuperuser != nil || c.SessionSecretKey != "" || c.SMTP.Host != "" {
				t.Errorf("defaults: %+v %q %+v", c.CreateSuperuser, c.SessionSecretKey, c.SMTP)
			}
			if c.SMTP.Port != 587 || c.SMTP.TLS != "starttls" || c.SMTP.From != "faultline@localhost" {
				t.Errorf("smtp defaults %+v", c.SMTP)
			}
		}},
		{"ssl proxy needs a key", map[string]string{"SSL_PROXY": "true"}, "SESSION_SECRET_KEY: required when SSL_PROXY=true", nil},
		{"short key", map[string]string{"SESSION_SECRET_KEY": "short"}, "SESSION_SECRET_KEY: want at least 64 bytes, got 5", nil},
		{"ssl proxy with key", map[string]string{"SSL_PROXY": "true", "SESSION_SECRET_KEY": key}, "", func(t *testing.T, c Config) {
			if !c.SSLProxy || c.SessionSecretKey != key {
				t.Errorf("got %v %q", c.SSLProxy, c.SessionSecretKey)
			}
		}},
		{"superuser", map[string]string{"CREATE_SUPERUSER": "admin@example.com:pa:ss word"}, "", func(t *testing.T, c Config) {
			if c.CreateSuperuser == nil || c.CreateSuperuser.Email != "admin@example.com" || c.CreateSuperuser.Password != "pa:ss word" {
				t.Errorf("got %+v", c.CreateSuperuser)
			}
		}},
		{"org creation", map[string]string{"ALLOW_ORG_CREATION": "all"}, "", func(t *testing.T, c Config) {
			if !c.AllowOrgCreation {
				t.Error("ALLOW_ORG_CREATION=all not read")
			}
		}},
		{"org creation for superusers by default", nil, "", func(t *testing.T, c Config) {
			if c.AllowOrgCreation {
				t.Error("organisations open to all by default")
			}
		}},
		{"org creation typo", map[string]string{"ALLOW_ORG_CREATION": "everyone"}, `ALLOW_ORG_CREATION: want superusers or all, got "everyone"`, nil},
		{"superuser without password", map[string]string{"CREATE_SUPERUSER": "admin@example.com"}, "CREATE_SUPERUSER: want email:password", nil},
		{"superuser without email", map[string]string{"CREATE_SUPERUSER": "admin:secret"}, "CREATE_SUPERUSER: want email:password", nil},
		{"smtp", map[string]string{"SMTP_HOST": "mail.example.com", "SMTP_PORT": "465", "SMTP_TLS": "tls", "SMTP_USERNAME": "u",
			"SMTP_PASSWORD": "p", "SMTP_FROM": "errors@example.com", "PUBLIC_URL": "https://errors.example.com"}, "", func(t *testing.T, c Config) {
			want := SMTPConfig{Host: "mail.example.com", Port: 465, Username: "u", Password: "p", From: "errors@example.com", TLS: "tls"}
			if c.SMTP != want {
				t.Errorf("got %+v, want %+v", c.SMTP, want)
			}
		}},
		{"smtp from defaults to the public host", map[string]string{"PUBLIC_URL": "https://errors.example.com"}, "", func(t *testing.T, c Config) {
			if c.SMTP.From != "faultline@errors.example.com" {
				t.Errorf("from %q", c.SMTP.From)
			}
		}},
		{"bad smtp tls", map[string]string{"SMTP_TLS": "ssl"}, "SMTP_TLS: want one of starttls, tls, none", nil},
		{"bad smtp port", map[string]string{"SMTP_PORT": "0"}, "SMTP_PORT", nil},
		{"bad smtp from", map[string]string{"SMTP_FROM": "nobody"}, "SMTP_FROM", nil},
		{"password without user", map[string]string{"SMTP_PASSWORD": "p"}, "SMTP_USERNAME: required", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(func(k string) string { return tt.env[k] })
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				tt.check(t, c)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
