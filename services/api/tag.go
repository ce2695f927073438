package api

import (
	"strings"
	"time"

	"github.com/faultline/faultline/libs/issues"
)

// TagValue is one value of an issue's tag.
type TagValue struct {
	Key       string    `json:"key"`
	Name      string    `json:"name"`
	Value     string    `json:"value"`
	Count     int64     `json:"count"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
}

// TagKey is one tag key of an issue with its most frequent values.
type TagKey struct {
	Key          string     `json:"key"`
	Name         string     `json:"name"`
	TotalValues  int64      `json:"totalValues"`
	UniqueValues int64      `json:"uniqueValues"`
	TopValues    []TagValue `json:"topValues"`
}

func tagValueJSON(v issues.TagValue) TagValue {
	return TagValue{Key: v.Key, Name: v.Value, Value: v.Value, Count: v.Count, FirstSeen: v.FirstSeen.UTC(), LastSeen: v.LastSeen.UTC()}
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
	out := make([]TagKey, 0, len(keys))
	for _, k := range keys {
		top := make([]TagValue, 0, len(k.TopValues))
		for _, v := range k.TopValues {
			top = append(top, tagValueJSON(v))
		}
		out = append(out, TagKey{Key: k.Key, Name: tagName(k.Key), TotalValues: k.TotalValues, UniqueValues: k.UniqueValues, TopValues: top})
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
