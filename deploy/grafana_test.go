package deploy

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// codeMetrics finds the metrics Faultline's code defines: every
// prometheus.{Counter,Gauge,Histogram,Summary}Opts literal under services/
// and libs/, named by its Namespace, Subsystem and Name, and every
// prometheus.NewDesc (the metrics of a collector, such as the consumers'
// state read at scrape time), named by its first argument. The value is
// the series names a query may use (a histogram's _bucket, _sum and
// _count).
func codeMetrics(t *testing.T) map[string][]string {
	t.Helper()
	found := map[string][]string{}
	fset := token.NewFileSet()
	for _, dir := range []string{"../services", "../libs", "../streams"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if call, ok := n.(*ast.CallExpr); ok {
					if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "NewDesc" && len(call.Args) > 0 {
						if x, ok := sel.X.(*ast.Ident); ok && x.Name == "prometheus" {
							bl, ok := call.Args[0].(*ast.BasicLit)
							if !ok {
								t.Errorf("%s: the name of a metric is not a string literal", fset.Position(call.Pos()))
								return true
							}
							name, _ := strconv.Unquote(bl.Value)
							found[name] = []string{name}
						}
					}
					return true
				}
				lit, ok := n.(*ast.CompositeLit)
				if !ok {
					return true
				}
				sel, ok := lit.Type.(*ast.SelectorExpr)
				if !ok || !strings.HasSuffix(sel.Sel.Name, "Opts") {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "prometheus" {
					return true
				}
				var parts []string
				for _, key := range []string{"Namespace", "Subsystem", "Name"} {
					for _, e := range lit.Elts {
						kv, ok := e.(*ast.KeyValueExpr)
						if !ok || kv.Key.(*ast.Ident).Name != key {
							continue
						}
						bl, ok := kv.Value.(*ast.BasicLit)
						if !ok {
							t.Errorf("%s: %s of a metric is not a string literal", fset.Position(kv.Pos()), key)
							continue
						}
						s, _ := strconv.Unquote(bl.Value)
						parts = append(parts, s)
					}
				}
				if len(parts) == 0 {
					return true
				}
				name := strings.Join(parts, "_")
				series := []string{name}
				if sel.Sel.Name == "HistogramOpts" || sel.Sel.Name == "SummaryOpts" {
					series = append(series, name+"_sum", name+"_count")
					if sel.Sel.Name == "HistogramOpts" {
						series = append(series, name+"_bucket")
					}
				}
				found[name] = series
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return found
}

type grafanaPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

// seriesRef is a metric name in PromQL: an identifier followed by its label
// matchers or a range.
var seriesRef = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]`)

func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/faultline.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title      string         `json:"title"`
		UID        string         `json:"uid"`
		Panels     []grafanaPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Error("dashboard without title or uid")
	}
	hasDatasourceVar := false
	for _, v := range dash.Templating.List {
		hasDatasourceVar = hasDatasourceVar || v.Name == "datasource" && v.Type == "datasource"
	}
	if !hasDatasourceVar {
		t.Error("no $datasource variable: the dashboard would be bound to one Prometheus")
	}

	known := map[string]string{} // series -> metric
	code := codeMetrics(t)
	if len(code) < 5 {
		t.Fatalf("found only %d metrics in the code: %v", len(code), code)
	}
	for name, series := range code {
		for _, s := range series {
			known[s] = name
		}
	}
	// What every role's registry adds (serve.go: Go and process collectors).
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		known[mf.GetName()] = mf.GetName()
	}

	used := map[string]bool{}
	ids := map[int]bool{}
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q queries nothing", p.Title)
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q does not use $datasource", p.Title)
			}
			for _, tg := range p.Targets {
				refs := seriesRef.FindAllStringSubmatch(tg.Expr, -1)
				if len(refs) == 0 {
					t.Errorf("panel %q: no metric in %q", p.Title, tg.Expr)
				}
				for _, r := range refs {
					metric, ok := known[r[1]]
					if !ok {
						t.Errorf("panel %q queries %s, which no code exports", p.Title, r[1])
					}
					used[metric] = true
				}
			}
		}
	}
	walk(dash.Panels)
	for name := range code {
		if !used[name] {
			t.Errorf("metric %s is on no panel of the dashboard", name)
		}
	}
}
