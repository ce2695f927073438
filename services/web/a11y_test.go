package web_test

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// checkAccessibility checks a rendered page's structure: a language, one
// h1, headings that do not skip levels, a label for every form control, a
// name for every button, link and image, and unique ids.
func checkAccessibility(page string) []string {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return []string{"parse: " + err.Error()}
	}
	var problems []string
	labelFor := map[string]bool{}
	ids := map[string]int{}
	var controls []*html.Node
	h1s, last := 0, 0
	var walk func(n *html.Node, inLabel bool)
	walk = func(n *html.Node, inLabel bool) {
		if n.Type == html.ElementNode {
			if id := attr(n, "id"); id != "" {
				ids[id]++
			}
			switch n.Data {
			case "html":
				if attr(n, "lang") == "" {
					problems = append(problems, "<html> has no lang")
				}
			case "h1", "h2", "h3", "h4", "h5", "h6":
				level := int(n.Data[1] - '0')
				if level == 1 {
					h1s++
				}
				if level > last+1 {
					problems = append(problems, fmt.Sprintf("heading %q (h%d) follows h%d", text(n), level, last))
				}
				if strings.TrimSpace(text(n)) == "" {
					problems = append(problems, fmt.Sprintf("empty h%d", level))
				}
				last = level
			case "label":
				if f := attr(n, "for"); f != "" {
					labelFor[f] = true
				}
				inLabel = true
			case "input", "select", "textarea":
				if t := attr(n, "type"); t != "hidden" && t != "submit" && t != "button" && !inLabel &&
					attr(n, "aria-label") == "" && attr(n, "aria-labelledby") == "" {
					controls = append(controls, n)
				}
			case "button", "a":
				if strings.TrimSpace(text(n)) == "" && attr(n, "aria-label") == "" {
					problems = append(problems, fmt.Sprintf("<%s> without a name", n.Data))
				}
			case "img":
				if !hasAttr(n, "alt") {
					problems = append(problems, "<img> without alt")
				}
			case "svg":
				if attr(n, "role") == "img" && attr(n, "aria-label") == "" {
					problems = append(problems, "svg image without aria-label")
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inLabel)
		}
	}
	walk(doc, false)
	if h1s != 1 {
		problems = append(problems, fmt.Sprintf("%d h1 elements, want 1", h1s))
	}
	for _, c := range controls {
		if id := attr(c, "id"); id == "" || !labelFor[id] {
			problems = append(problems, fmt.Sprintf("<%s name=%q> has no label", c.Data, attr(c, "name")))
		}
	}
	for id, n := range ids {
		if n > 1 {
			problems = append(problems, fmt.Sprintf("id %q used %d times", id, n))
		}
	}
	return problems
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, name string) bool {
	for _, a := range n.Attr {
		if a.Key == name {
			return true
		}
	}
	return false
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func TestCheckAccessibilityFindsProblems(t *testing.T) {
	tests := []struct {
		name, page, want string
	}{
		{"no lang", `<html><body><h1>x</h1></body></html>`, "no lang"},
		{"two h1", `<html lang="en"><body><h1>a</h1><h1>b</h1></body></html>`, "2 h1 elements"},
		{"skipped level", `<html lang="en"><body><h1>a</h1><h3>b</h3></body></html>`, "follows h1"},
		{"unlabelled input", `<html lang="en"><body><h1>a</h1><input name="q"></body></html>`, "has no label"},
		{"nameless button", `<html lang="en"><body><h1>a</h1><button></button></body></html>`, "without a name"},
		{"duplicate id", `<html lang="en"><body><h1 id="x">a</h1><p id="x"></p></body></html>`, "used 2 times"},
		{"fine", `<html lang="en"><body><h1>a</h1><label for="q">Q</label><input id="q"><label>R <input name="r"></label></body></html>`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(checkAccessibility(tc.page), "; ")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestContrast checks that the stylesheet's text colours keep a contrast of
// at least 4.5:1 (WCAG AA) against the backgrounds they are used on.
func TestContrast(t *testing.T) {
	css, err := os.ReadFile("static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`--([a-z]+):\s*(#[0-9a-fA-F]{6})`).FindAllStringSubmatch(string(css), -1) {
		vars[m[1]] = m[2]
	}
	pairs := [][2]string{
		{"fg", "bg"}, {"muted", "bg"}, {"link", "bg"}, {"fg", "panel"}, {"muted", "panel"}, {"link", "panel"},
		{"bg", "accent"}, {"bg", "fatal"}, {"bg", "error"}, {"bg", "warning"}, {"bg", "info"}, {"bg", "debug"},
		{"danger", "bg"}, {"warning", "bg"}, {"warning", "panel"}, {"danger", "panel"},
	}
	for _, p := range pairs {
		fg, bg := vars[p[0]], vars[p[1]]
		if fg == "" || bg == "" {
			t.Errorf("--%s or --%s is not defined", p[0], p[1])
			continue
		}
		if r := contrast(fg, bg); r < 4.5 {
			t.Errorf("--%s %s on --%s %s: contrast %.2f, want 4.5", p[0], fg, p[1], bg, r)
		}
	}
	// Literal colours used on the header and in notices.
	for _, p := range [][2]string{{"#ffffff", "#24133f"}, {"#e8e0f7", "#24133f"}, {"#7a1c14", "#fdecea"}, {"#1f2328", "#e6f4ea"}, {"#1f2328", "#ffe8a3"}, {"#1f2328", "#f3effb"}} {
		if r := contrast(p[0], p[1]); r < 4.5 {
			t.Errorf("%s on %s: contrast %.2f, want 4.5", p[0], p[1], r)
		}
	}
}

func luminance(hex string) float64 {
	var c [3]float64
	for i := range c {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		s := float64(v) / 255
		if s <= 0.03928 {
			c[i] = s / 12.92
		} else {
			c[i] = math.Pow((s+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}
