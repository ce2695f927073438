package analyticsquery

import (
	"sort"
	"strconv"
	"strings"
)

// Quote writes v as a search value that ParseSearch reads back exactly:
// key:Quote(v) matches the rows whose key is v, whatever v holds (spaces,
// quotes, colons, bytes that are not UTF-8). Pages that link to one
// transaction build their search with it.
func Quote(v string) string { return strconv.Quote(v) }

// FieldNames are the fields a dataset allows, as Sentry names them: its
// columns and its functions, each sorted. The query page lists them.
func FieldNames(d Dataset) (cols, fns []string) {
	for name := range columns[d] {
		cols = append(cols, name)
	}
	for name := range functions[d] {
		fns = append(fns, name)
	}
	sort.Strings(cols)
	sort.Strings(fns)
	return cols, fns
}

// IsFunction says whether field is one of the dataset's aggregate
// functions (count(), p95(), …) rather than a column.
func IsFunction(d Dataset, field string) bool {
	_, ok := functions[d][strings.TrimSpace(field)]
	return ok
}
