// Package grouping owns how events become issues: it computes an event's
// grouping hashes the way Sentry's documented grouping does (config
// "newstyle:2023-01-11"), applying a project's stack-trace and fingerprint
// rules, and explains each decision as a tree of components.
//
// An event has several hashes, the primary first: the "app" variant (in-app
// frames only) and the "system" variant (all frames) for errors, "default"
// for messages and security reports, "custom-fingerprint" when a fingerprint
// overrides them. An event joins an issue if any of its hashes is known.
// The package is pure: no I/O, and Compute is deterministic.
package grouping

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/faultline/faultline/libs/event"
)

// ConfigID names the grouping algorithm; it is recorded with every hash so
// that the algorithm can change without mixing hashes of two versions.
const ConfigID = "newstyle:2023-01-11"

// Component is one node of the explanation tree: what was considered, with
// whether it contributed to the hash and, if not, why (Hint).
type Component struct {
	ID          string
	Name        string
	Contributes bool
	Hint        string
	Values      []any // string or *Component
}

// Variant is one way of hashing an event.
type Variant struct {
	Name        string // app, system, default, custom-fingerprint, fallback
	Hash        string // "" when the variant does not contribute
	Contributes bool
	Component   *Component // the root; its values are the top components
	Hint        string
}

// Result is an event's grouping.
type Result struct {
	Hashes   []string // the contributing variants' hashes, primary first, without duplicates
	Variants []Variant
	Config   string
}

func newComponent(id string, values ...any) *Component {
	return &Component{ID: id, Contributes: true, Values: values}
}

// ignore marks c as not contributing, with why.
func (c *Component) ignore(hint string) *Component {
	c.Contributes = false
	if c.Hint == "" {
		c.Hint = hint
	}
	return c
}

// appendValues appends the contributing values under c, in order.
func (c *Component) appendValues(b []byte) []byte {
	if !c.Contributes {
		return b
	}
	for _, v := range c.Values {
		switch v := v.(type) {
		case string:
			b = append(b, v...)
		case *Component:
			b = v.appendValues(b)
		}
	}
	return b
}

// hash is the md5 of the contributing values, in order, as Sentry hashes.
func (c *Component) hash() string {
	var buf [512]byte
	sum := md5.Sum(c.appendValues(buf[:0]))
	return hex.EncodeToString(sum[:])
}

// anyContributes reports whether some value of c contributes.
func (c *Component) anyContributes() bool {
	for _, v := range c.Values {
		switch v := v.(type) {
		case string:
			return true
		case *Component:
			if v.Contributes {
				return true
			}
		}
	}
	return false
}

// settle sets c.Contributes from its children: a component with children
// contributes only if one of them does.
func (c *Component) settle(hint string) *Component {
	if c.Contributes && !c.anyContributes() {
		c.ignore(hint)
	}
	return c
}

// Compute groups e under r (nil for no rules).
func Compute(e *event.Event, r *Rules) Result {
	g := newGrouper(e, r)
	variants := g.defaultVariants()

	fp, source := e.Fingerprint, "client fingerprint"
	if rule := r.matchFingerprint(e, g); rule != nil {
		fp, source = rule.Fingerprint, "fingerprint rule: "+rule.Text
	}
	if !isDefaultFingerprint(fp) {
		variants = g.applyFingerprint(variants, fp, source)
	}

	res := Result{Config: ConfigID, Variants: variants}
	seen := map[string]bool{}
	for i := range res.Variants {
		v := &res.Variants[i]
		if !v.Contributes {
			v.Hash = ""
			continue
		}
		v.Hash = v.Component.hash()
		if !seen[v.Hash] {
			seen[v.Hash] = true
			res.Hashes = append(res.Hashes, v.Hash)
		}
	}
	return res
}

// Explain is the explanation as indented JSON, as "faultline grouping
// explain" prints it: {"hashes": [...], "variants": [...], "config": ...}.
func (r Result) Explain() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "<int>" readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		panic(fmt.Sprintf("grouping: encode explanation: %v", err)) // only strings, bools and components
	}
	return buf.Bytes()
}

// MarshalJSON writes the explanation: {"hashes", "variants", "config"}.
func (r Result) MarshalJSON() ([]byte, error) {
	hashes := r.Hashes
	if hashes == nil {
		hashes = []string{}
	}
	return marshal(struct {
		Hashes   []string  `json:"hashes"`
		Variants []Variant `json:"variants"`
		Config   string    `json:"config"`
	}{hashes, r.Variants, r.Config})
}

// MarshalJSON writes a variant with its component tree under "components".
func (v Variant) MarshalJSON() ([]byte, error) {
	var hash *string
	if v.Hash != "" {
		hash = &v.Hash
	}
	comps := []any{}
	if v.Component != nil {
		comps = v.Component.Values
	}
	return marshal(struct {
		Name        string  `json:"name"`
		Hash        *string `json:"hash"`
		Contributes bool    `json:"contributes"`
		Hint        string  `json:"hint,omitempty"`
		Components  []any   `json:"components"`
	}{v.Name, hash, v.Contributes, v.Hint, comps})
}

// MarshalJSON writes a component as {"id", "name", "contributes", "hint", "values"}.
func (c *Component) MarshalJSON() ([]byte, error) {
	vals := c.Values
	if vals == nil {
		vals = []any{}
	}
	return marshal(struct {
		ID          string `json:"id"`
		Name        string `json:"name,omitempty"`
		Contributes bool   `json:"contributes"`
		Hint        string `json:"hint,omitempty"`
		Values      []any  `json:"values"`
	}{c.ID, c.Name, c.Contributes, c.Hint, vals})
}

// marshal is json.Marshal without HTML escaping, so that "<int>" stays so.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
