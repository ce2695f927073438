package grouping

import (
	"regexp"
	"strings"

	"github.com/faultline/faultline/libs/event"
)

var variableRE = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}`)

func isDefaultToken(s string) bool {
	m := variableRE.FindStringSubmatch(strings.TrimSpace(s))
	return m != nil && len(m[0]) == len(strings.TrimSpace(s)) && strings.EqualFold(m[1], "default")
}

// isDefaultFingerprint reports whether fp leaves grouping to the default
// algorithm: none, or {{ default }} alone.
func isDefaultFingerprint(fp []string) bool {
	for _, t := range fp {
		if !isDefaultToken(t) {
			return false
		}
	}
	return true
}

// applyFingerprint gives the event its custom fingerprint: without
// {{ default }} it replaces the default variants; with it, it salts them.
func (g *grouper) applyFingerprint(variants []Variant, fp []string, source string) []Variant {
	hasDefault := false
	for _, t := range fp {
		hasDefault = hasDefault || isDefaultToken(t)
	}
	if !hasDefault {
		for i := range variants {
			if variants[i].Contributes {
				variants[i].Contributes = false
				variants[i].Hint = "ignored because the custom fingerprint takes precedence"
			}
		}
		c := newComponent("custom-fingerprint")
		c.Hint = source
		for _, t := range fp {
			c.Values = append(c.Values, g.expand(t))
		}
		custom := Variant{Name: "custom-fingerprint", Contributes: true, Hint: source, Component: newComponent("custom-fingerprint", c)}
		return append([]Variant{custom}, variants...)
	}
	for i := range variants {
		v := &variants[i]
		if !v.Contributes {
			continue
		}
		root := newComponent(v.Component.ID)
		for _, t := range fp {
			if isDefaultToken(t) {
				root.Values = append(root.Values, v.Component.Values...)
				continue
			}
			fc := newComponent("fingerprint", g.expand(t))
			fc.Hint = source
			root.Values = append(root.Values, fc)
		}
		v.Component = root
		v.Hint = "combined with the " + source
	}
	return variants
}

// expand fills the fingerprint variables in t: {{ transaction }},
// {{ type }}, {{ value }}, {{ message }}, {{ function }}, {{ module }},
// {{ package }}, {{ level }}, {{ logger }}, {{ release }}, {{ tags.NAME }}.
// A variable without a value becomes "<no-NAME>".
func (g *grouper) expand(t string) string {
	return variableRE.ReplaceAllStringFunc(t, func(m string) string {
		name := strings.ToLower(variableRE.FindStringSubmatch(m)[1])
		v := g.variable(name)
		if v == "" {
			return "<no-" + name + ">"
		}
		return v
	})
}

func (g *grouper) variable(name string) string {
	e := g.e
	if tag, ok := strings.CutPrefix(name, "tags."); ok {
		for _, kv := range e.Tags {
			if strings.EqualFold(kv[0], tag) {
				return kv[1]
			}
		}
		return ""
	}
	ex := e.MainException()
	switch name {
	case "transaction":
		return e.Transaction
	case "type", "error.type":
		if ex != nil {
			return ex.Type
		}
	case "value", "error.value":
		if ex != nil {
			return ex.Value
		}
	case "message":
		if ex != nil && ex.Value != "" {
			return ex.Value
		}
		return e.LogMessage()
	case "function", "stack.function", "module", "stack.module", "package", "stack.package", "abs_path", "stack.abs_path":
		f := g.topFrame()
		if f == nil {
			return ""
		}
		switch strings.TrimPrefix(name, "stack.") {
		case "function":
			return f.Function
		case "module":
			return f.Module
		case "package":
			return f.Package
		default:
			return f.AbsPath
		}
	case "level":
		return e.Level
	case "logger":
		return e.Logger
	case "release":
		return e.Release
	case "environment":
		return e.Environment
	}
	return ""
}

// topFrame is the innermost in-app frame (after stack-trace rules) of the
// main stack trace, or its innermost frame.
func (g *grouper) topFrame() *event.Frame {
	st := g.e.MainStacktrace()
	if st == nil {
		return nil
	}
	s := g.stacks[st]
	for i := len(st.Frames) - 1; i >= 0; i-- {
		if s != nil && s.frames[i].inApp {
			return &st.Frames[i]
		}
	}
	return &st.Frames[len(st.Frames)-1]
}
