package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/projectkeys"
)

func (a *API) listKeys(c *call) (any, error) {
	var active *bool
	switch c.r.URL.Query().Get("status") {
	case "":
	case "active", "inactive":
		v := c.r.URL.Query().Get("status") == "active"
		active = &v
	default:
		return nil, &httpError{http.StatusBadRequest, "status: want active or inactive"}
	}
	return listOf(c, func(limit, offset int) ([]*accounts.ProjectKey, error) {
		return c.store.Keys(c.r.Context(), c.project.ID, active, limit, offset)
	}, a.keyJSON(c))
}

// keyRequest is a key write: Sentry's fields (name, isActive, rateLimit
// {count, window}, browserSdkVersion, dynamicSdkLoaderOptions) and
// Faultline's label and rateLimits {perMinute, perHour}. Any other field is
// refused, naming it.
type keyRequest struct {
	Name              *string         `json:"name"`
	Label             *string         `json:"label"`
	IsActive          *bool           `json:"isActive"`
	RateLimit         json.RawMessage `json:"rateLimit"` // null removes the limit
	BrowserSDKVersion *string         `json:"browserSdkVersion"`
	Loader            *struct {
		HasReplay      *bool `json:"hasReplay"`
		HasPerformance *bool `json:"hasPerformance"`
		HasDebug       *bool `json:"hasDebug"`
	} `json:"dynamicSdkLoaderOptions"`
	UseCase    *string `json:"useCase"` // Sentry's; only "user" keys exist here
	RateLimits *struct {
		PerMinute *int64 `json:"perMinute"`
		PerHour   *int64 `json:"perHour"`
	} `json:"rateLimits"`
}

func (a *API) decodeKey(c *call) (accounts.KeyUpdate, error) {
	var req keyRequest
	if err := c.decodeStrict(&req); err != nil {
		return accounts.KeyUpdate{}, err
	}
	u := accounts.KeyUpdate{Label: req.Name, BrowserSDKVersion: req.BrowserSDKVersion}
	if u.Label == nil {
		u.Label = req.Label
	}
	if req.IsActive != nil {
		d := !*req.IsActive
		u.Disabled = &d
	}
	if req.UseCase != nil && *req.UseCase != "user" {
		return u, &httpError{http.StatusBadRequest, `useCase: only "user" keys exist here`}
	}
	if len(req.RateLimit) > 0 {
		rl, err := decodeRateLimit(req.RateLimit)
		if err != nil {
			return u, err
		}
		// Sentry's one limit replaces Faultline's minute and hour pair.
		zero := int64(0)
		u.RateLimit, u.RateLimitPerMinute, u.RateLimitPerHour = &rl, &zero, &zero
	}
	if l := req.Loader; l != nil {
		u.HasReplay, u.HasPerformance, u.HasDebug = l.HasReplay, l.HasPerformance, l.HasDebug
	}
	if rl := req.RateLimits; rl != nil {
		if rl.PerMinute != nil {
			u.RateLimitPerMinute = rl.PerMinute
		}
		if rl.PerHour != nil {
			u.RateLimitPerHour = rl.PerHour
		}
	}
	return u, nil
}

// decodeRateLimit reads Sentry's rateLimit: null, or {count, window} with
// both null, remove the limit.
func decodeRateLimit(raw json.RawMessage) (projectkeys.RateLimit, error) {
	if string(raw) == "null" {
		return projectkeys.RateLimit{}, nil
	}
	var v struct {
		Count  *int64 `json:"count"`
		Window *int64 `json:"window"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return projectkeys.RateLimit{}, &httpError{http.StatusBadRequest, "rateLimit: want null or {count, window} in whole numbers"}
	}
	switch {
	case v.Count == nil && v.Window == nil:
		return projectkeys.RateLimit{}, nil
	case v.Count == nil:
		return projectkeys.RateLimit{}, &httpError{http.StatusBadRequest, "rateLimit.count is required with a window"}
	case v.Window == nil:
		return projectkeys.RateLimit{}, &httpError{http.StatusBadRequest, "rateLimit.window is required with a count"}
	}
	return projectkeys.RateLimit{Count: *v.Count, Window: *v.Window}, nil
}

func (a *API) createKey(c *call) (any, error) {
	u, err := a.decodeKey(c)
	if err != nil {
		return nil, err
	}
	k, err := c.store.CreateKey(c.r.Context(), c.project.ID, u)
	if err != nil {
		return nil, err
	}
	return keyJSON(k, c.store.PublicURL()), nil
}

func (a *API) getKey(c *call) (any, error) {
	k, err := c.store.Key(c.r.Context(), c.project.ID, c.param("key_id"))
	if err != nil {
		return nil, err
	}
	return keyJSON(k, c.store.PublicURL()), nil
}

func (a *API) updateKey(c *call) (any, error) {
	u, err := a.decodeKey(c)
	if err != nil {
		return nil, err
	}
	k, err := c.store.UpdateKey(c.r.Context(), c.project.ID, c.param("key_id"), u)
	if err != nil {
		return nil, err
	}
	return keyJSON(k, c.store.PublicURL()), nil
}

func (a *API) deleteKey(c *call) (any, error) {
	return nil, c.store.DeleteKey(c.r.Context(), c.project.ID, c.param("key_id"))
}

func (a *API) rotateKey(c *call) (any, error) {
	k, err := c.store.RotateKey(c.r.Context(), c.project.ID, c.param("key_id"))
	if err != nil {
		return nil, err
	}
	return keyJSON(k, c.store.PublicURL()), nil
}

// ProjectKey is a DSN key as Sentry answers it.
type ProjectKey struct {
	ID                string           `json:"id"`
	Name              string           `json:"name"`
	Label             string           `json:"label"`
	Public            string           `json:"public"`
	Secret            string           `json:"secret"`
	ProjectID         int64            `json:"projectId"`
	IsActive          bool             `json:"isActive"`
	RateLimit         *KeyRateLimit    `json:"rateLimit"`
	RateLimits        KeyRateLimits    `json:"rateLimits"`
	DSN               KeyDSN           `json:"dsn"`
	BrowserSDKVersion string           `json:"browserSdkVersion"`
	Loader            KeyLoaderOptions `json:"dynamicSdkLoaderOptions"`
	UseCase           string           `json:"useCase"`
	DateCreated       time.Time        `json:"dateCreated"`
}

// KeyRateLimit is Sentry's key rate limit: count events per window seconds.
type KeyRateLimit struct {
	Window int64 `json:"window"`
	Count  int64 `json:"count"`
}

// KeyRateLimits is Faultline's per-minute and per-hour pair.
type KeyRateLimits struct {
	PerMinute int64 `json:"perMinute"`
	PerHour   int64 `json:"perHour"`
}

// KeyLoaderOptions is Sentry's dynamicSdkLoaderOptions.
type KeyLoaderOptions struct {
	HasReplay      bool `json:"hasReplay"`
	HasPerformance bool `json:"hasPerformance"`
	HasDebug       bool `json:"hasDebug"`
}

// KeyDSN is every form of a key's DSN, as Sentry names them. The gateway
// serves public, secret, csp, security and nel; the others name endpoints
// it does not serve yet, as a Sentry with that feature off would still list
// them.
type KeyDSN struct {
	Secret      string `json:"secret"`      // public:secret@, for legacy SDKs
	Public      string `json:"public"`      // what SDKs are configured with
	CSP         string `json:"csp"`         // Content-Security-Policy report-uri
	Security    string `json:"security"`    // CSP, Expect-CT, HPKP reports
	Minidump    string `json:"minidump"`    // native crash uploads
	NEL         string `json:"nel"`         // Network Error Logging reports
	Unreal      string `json:"unreal"`      // Unreal Engine crash reporter
	Crons       string `json:"crons"`       // cron check-ins
	CDN         string `json:"cdn"`         // the JavaScript loader script
	Playstation string `json:"playstation"` // PlayStation crash reports
	Integration string `json:"integration"` // the integrations' base URL
	OTLPTraces  string `json:"otlp_traces"` // OpenTelemetry traces over OTLP/HTTP
	OTLPLogs    string `json:"otlp_logs"`   // OpenTelemetry logs over OTLP/HTTP
}

// keyDSN builds every DSN form of k, as Sentry does from its URL prefix.
func keyDSN(k *accounts.ProjectKey, publicURL string) KeyDSN {
	base := strings.TrimRight(publicURL, "/")
	api := base + "/api/" + idString(k.ProjectID) + "/"
	q := "?sentry_key=" + k.PublicKey
	secret := ""
	if u, err := url.Parse(k.DSN); err == nil && k.SecretKey != "" {
		u.User = url.UserPassword(k.PublicKey, k.SecretKey)
		secret = u.String()
	}
	return KeyDSN{
		Secret:      secret,
		Public:      k.DSN,
		CSP:         api + "csp-report/" + q,
		Security:    api + "security/" + q,
		Minidump:    api + "minidump/" + q,
		NEL:         api + "nel/" + q,
		Unreal:      api + "unreal/" + k.PublicKey + "/",
		Crons:       api + "cron/___MONITOR_SLUG___/" + k.PublicKey + "/",
		CDN:         base + "/js-sdk-loader/" + k.PublicKey + ".min.js",
		Playstation: api + "playstation/" + q,
		Integration: api + "integration/",
		OTLPTraces:  api + "integration/otlp/v1/traces",
		OTLPLogs:    api + "integration/otlp/v1/logs",
	}
}

func keyJSON(k *accounts.ProjectKey, publicURL string) ProjectKey {
	var rateLimit *KeyRateLimit
	if rl := k.SentryRateLimit(); rl.Count > 0 {
		rateLimit = &KeyRateLimit{Window: rl.Window, Count: rl.Count}
	}
	return ProjectKey{
		ID: k.PublicKey, Name: k.Label, Label: k.Label, Public: k.PublicKey, Secret: k.SecretKey,
		ProjectID: k.ProjectID, IsActive: !k.Disabled, RateLimit: rateLimit,
		RateLimits:        KeyRateLimits{PerMinute: k.RateLimitPerMinute, PerHour: k.RateLimitPerHour},
		DSN:               keyDSN(k, publicURL),
		BrowserSDKVersion: k.BrowserSDKVersion,
		Loader:            KeyLoaderOptions(k.LoaderOptions),
		UseCase:           "user",
		DateCreated:       k.CreatedAt,
	}
}

func (a *API) keyJSON(c *call) func(*accounts.ProjectKey) ProjectKey {
	return func(k *accounts.ProjectKey) ProjectKey { return keyJSON(k, c.store.PublicURL()) }
}
