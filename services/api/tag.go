package api

import (
	"strings"

	"github.com/faultline/faultline/libs/issues"
)

func tagValueJSON(v issues.TagValue) map[string]any {
	return map[string]any{"key": v.Key, "name": v.Value, "value": v.Value, "count": v.Count,
		"firstSeen": v.FirstSeen.UTC(), "lastSeen": v.LastSeen.UTC()}
}

func tagName(key string) string {
	if key == "" {
		return key
	}
	return strings.ToUpper(key[:1]) + key[1:]
}

func (a *API) issueTags(c *call) (any, error) {
	is, _, err := a.issue(c)
	if err != nil {
		return nil, err
	}
	keys, err := c.issues.TagKeys(c.r.Context(), is.ID, 9)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		top := make([]map[string]any, 0, len(k.TopValues))
		for _, v := range k.TopValues {
			top = append(top, tagValueJSON(v))
		}
		out = append(out, map[string]any{"key": k.Key, "name": tagName(k.Key), "totalValues": k.TotalValues,
			"uniqueValues": k.UniqueValues, "topValues": top})
	}
	return out, nil
}

func (a *API) issueTagValues(c *call) (any, error) {
	is, _, err := a.issue(c)
	if err != nil {
		return nil, err
	}
	key := c.param("key")
	return listOf(c, func(limit, offset int) ([]issues.TagValue, error) {
		return c.issues.TagValues(c.r.Context(), is.ID, key, limit, offset)
	}, tagValueJSON)
}
