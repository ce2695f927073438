// Package issues is the issues read model both HTTP layers (the REST API
// and the dashboard) use: queries over the grouping role's projection
// (grouping.*, read only: only grouping writes it), Sentry's issue search,
// and people's decisions about issues, published on the DECISIONS stream
// through libs/decide rather than written.
package issues

import (
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/libs/accounts"
)

// The errors are the accounts' own, so that both HTTP layers answer them
// alike: 404 and 400.
var (
	ErrNotFound = accounts.ErrNotFound
	ErrInvalid  = accounts.ErrInvalid
)

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// ShortID is an issue's short id as Sentry shows it: the project slug in
// capitals and the id in base 36.
func ShortID(projectSlug string, issueID int64) string {
	return strings.ToUpper(projectSlug) + "-" + strings.ToUpper(strconv.FormatInt(issueID, 36))
}
