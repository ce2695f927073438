package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/faultline/faultline/libs/accounts"
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

// keyRequest takes Sentry's fields (name, isActive, rateLimit {window,

// count}) and Faultline's rateLimits {perMinute, perHour}.

type keyRequest struct {
	Name      *string `json:"name"`
	Label     *string `json:"label"`
	IsActive  *bool   `json:"isActive"`
	RateLimit *struct {
		Window int64 `json:"window"`
		Count  int64 `json:"count"`
	} `json:"rateLimit"`
	RateLimits *struct {
		PerMinute *int64 `json:"perMinute"`
		PerHour   *int64 `json:"perHour"`
	} `json:"rateLimits"`
	rateLimitNull bool
}

func (a *API) decodeKey(c *call) (accounts.KeyUpdate, error) {
	var body json.RawMessage
	if err := c.decode(&body); err != nil {
		return accounts.KeyUpdate{}, err
	}
	var req keyRequest
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return accounts.KeyUpdate{}, &httpError{http.StatusBadRequest, "invalid key: " + err.Error()}
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return accounts.KeyUpdate{}, &httpError{http.StatusBadRequest, "want a JSON object"}
	}
	if v, ok := raw["rateLimit"]; ok && string(v) == "null" {
		req.rateLimitNull = true
	}
	u := accounts.KeyUpdate{Label: req.Name}
	if u.Label == nil {
		u.Label = req.Label
	}
	if req.IsActive != nil {
		d := !*req.IsActive
		u.Disabled = &d
	}
	zero := int64(0)
	if req.rateLimitNull {
		u.RateLimitPerMinute, u.RateLimitPerHour = &zero, &zero
	}
	if rl := req.RateLimit; rl != nil {
		count := rl.Count
		switch rl.Window {
		case 60:
			u.RateLimitPerMinute, u.RateLimitPerHour = &count, &zero
		case 3600:
			u.RateLimitPerMinute, u.RateLimitPerHour = &zero, &count
		default:
			return u, &httpError{http.StatusBadRequest, "rateLimit.window: Faultline limits keys per minute (60) or per hour (3600)"}
		}
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

func keyJSON(k *accounts.ProjectKey, publicURL string) map[string]any {
	var rateLimit any
	switch {
	case k.RateLimitPerMinute > 0:
		rateLimit = map[string]int64{"window": 60, "count": k.RateLimitPerMinute}
	case k.RateLimitPerHour > 0:
		rateLimit = map[string]int64{"window": 3600, "count": k.RateLimitPerHour}
	}
	security := strings.TrimRight(publicURL, "/") + "/api/" + idString(k.ProjectID) + "/security/?sentry_key=" + k.PublicKey
	return map[string]any{
		"id": k.PublicKey, "name": k.Label, "label": k.Label, "public": k.PublicKey, "secret": "",
		"projectId": k.ProjectID, "isActive": !k.Disabled, "rateLimit": rateLimit,
		"rateLimits":  map[string]int64{"perMinute": k.RateLimitPerMinute, "perHour": k.RateLimitPerHour},
		"dsn":         map[string]string{"public": k.DSN, "secret": k.DSN, "csp": security, "security": security},
		"dateCreated": k.CreatedAt,
	}
}

func (a *API) keyJSON(c *call) func(*accounts.ProjectKey) map[string]any {
	return func(k *accounts.ProjectKey) map[string]any { return keyJSON(k, c.store.PublicURL()) }
}
