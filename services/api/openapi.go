package api

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/faultline/faultline/libs/accounts"
)

// OpenAPI returns the OpenAPI 3.1 document of the REST API, made from the
// route list so it cannot drift from what is served.
func (a *API) OpenAPI() map[string]any {
	paths := map[string]any{}
	for _, rt := range a.routes() {
		item, _ := paths[rt.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		item[strings.ToLower(rt.method)] = operation(rt)
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "Faultline API",
			"version": "0",
			"description": "Organizations, teams, projects, DSN keys, members and API tokens, shaped like Sentry's Web API. " +
				"Authenticate with `Authorization: Bearer <token>` or a session cookie; cookie-authenticated requests " +
				"that change state send the faultline_csrf cookie's value in `X-CSRFToken`. Lists page with Sentry's " +
				"cursors in the `Link` header. Errors are `{\"detail\": \"...\"}`.",
		},
		"servers": []any{map[string]any{"url": strings.TrimRight(a.opt.PublicURL, "/")}},
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"bearer":  map[string]any{"type": "http", "scheme": "bearer"},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": accounts.SessionCookie},
			},
			"schemas": schemas,
		},
	}
}

func (a *API) openAPI(c *call) (any, error) {
	return a.OpenAPI(), nil
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

var paramHelp = map[string]string{
	"org":       "The organization's slug or id.",
	"project":   "The project's slug or id.",
	"team":      "The team's slug or id.",
	"member_id": "The member's id, or me.",
	"key_id":    "The DSN key's public key.",
	"token_id":  "The API token's id.",
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func operation(rt route) map[string]any {
	op := map[string]any{
		"summary":     rt.summary,
		"operationId": operationID(rt),
		"tags":        []string{tagOf(rt.path)},
	}
	var params []any
	for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true,
			"description": paramHelp[m[1]], "schema": map[string]string{"type": "string"}})
	}
	params = append(params, queryParams[rt.path]...)
	if strings.HasPrefix(rt.resp, "[]") || rt.resp == "EventsTable" {
		params = append(params,
			map[string]any{"name": "cursor", "in": "query", "description": "A cursor from the Link header.", "schema": map[string]string{"type": "string"}},
			map[string]any{"name": "per_page", "in": "query", "description": "Results per page, 1 to 100 (100).",
				"schema": map[string]any{"type": "integer", "minimum": 1, "maximum": maxPerPage}})
	}
	if params != nil {
		op["parameters"] = params
	}
	if rt.req != "" {
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": ref(rt.req)}}}
	}
	upload := isReleaseFileUpload(rt)
	if upload {
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"multipart/form-data": map[string]any{"schema": map[string]any{
			"type": "object", "required": []string{"file"},
			"properties": map[string]any{
				"file":   map[string]string{"type": "string", "format": "binary"},
				"name":   map[string]string{"type": "string", "description": "The file's name, a URL or ~/path (the uploaded file's name without it)"},
				"dist":   map[string]string{"type": "string"},
				"header": map[string]any{"type": "array", "items": map[string]string{"type": "string", "description": "Key:Value"}},
			}}}}}
	}
	ok := map[string]any{"description": http.StatusText(rt.status)}
	switch {
	case strings.HasPrefix(rt.resp, "[]"):
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "array", "items": ref(rt.resp[2:])}}}
		ok["headers"] = map[string]any{"Link": map[string]any{"description": "Previous and next cursors.", "schema": map[string]string{"type": "string"}}}
	case rt.resp != "":
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": ref(rt.resp)}}
	case rt.path == "/api/0/openapi.json":
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]string{"type": "object"}}}
	}
	errResp := func(why string) map[string]any {
		return map[string]any{"description": why, "content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}}
	}
	responses := map[string]any{strconv.Itoa(rt.status): ok}
	if rt.req != "" || rt.method != http.MethodGet || len(params) > strings.Count(rt.path, "{") {
		invalid := errResp("Invalid input: body or query parameters")
		if rt.req != "" {
			invalid["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"anyOf": []any{ref("Error"), ref("FieldErrors")}}}}
		}
		responses["400"] = invalid
	}
	if rt.method != http.MethodGet {
		responses["429"] = errResp("Too many attempts; retry later")
	}
	switch rt.access {
	case public:
		op["security"] = []any{}
	case sessionOnly:
		op["security"] = []any{map[string]any{"session": []string{}}}
	default:
		op["security"] = []any{map[string]any{"bearer": []string{}}, map[string]any{"session": []string{}}}
		op["x-faultline-level"] = rt.need.String()
	}
	if queuedChange(rt) && rt.status != http.StatusAccepted {
		responses["202"] = map[string]any{"description": "Queued: the alerting role has not applied the change yet",
			"content": map[string]any{"application/json": map[string]any{"schema": ref("Detail")}}}
	}
	switch {
	case rt.req == "Login" || rt.req == "AcceptInvite":
		responses["401"] = errResp("Wrong email or password")
	case rt.access == public:
		responses["401"] = errResp("Credentials were sent and are not valid")
	default:
		responses["401"] = errResp("No valid credentials")
	}
	if (rt.req != "" || upload) && rt.method != http.MethodGet {
		responses["409"] = errResp("Conflicts with an existing resource (a slug, name or version taken)")
	}
	if rt.access != public {
		responses["403"] = errResp("Not allowed: role, token scope or CSRF")
	}
	if strings.Contains(rt.path, "{") {
		responses["404"] = errResp("No such resource, or not one's own")
	}
	responses["503"] = errResp("The database is not ready")
	op["responses"] = responses
	return op
}

func tagOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 3 {
		return "meta"
	}
	return strings.TrimSuffix(parts[2], ".json")
}

func operationID(rt route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.method))
	for _, p := range strings.Split(strings.Trim(rt.path, "/"), "/")[2:] {
		p = strings.Trim(p, "{}")
		for _, w := range strings.FieldsFunc(p, func(r rune) bool { return r == '_' || r == '-' || r == '.' }) {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

func obj(required []string, props map[string]any) map[string]any {
	m := map[string]any{"type": "object", "properties": props}
	if required != nil {
		m["required"] = required
	}
	return m
}

// roleList is the schema of Sentry's orgRoleList or teamRoleList with the
// given properties beside the common ones.
func roleList(props map[string]any) map[string]any {
	p := map[string]any{"id": str, "name": str, "desc": str, "scopes": strList, "allowed": boolean, "isAllowed": boolean, "isRetired": boolean}
	for k, v := range props {
		p[k] = v
	}
	return map[string]any{"type": "array", "items": obj([]string{"id", "name"}, p)}
}

var (
	str      = map[string]any{"type": "string"}
	boolean  = map[string]any{"type": "boolean"}
	integer  = map[string]any{"type": "integer"}
	dateTime = map[string]any{"type": "string", "format": "date-time"}
	nullDate = map[string]any{"type": []string{"string", "null"}, "format": "date-time"}
	strList  = map[string]any{"type": "array", "items": str}
	nullStr  = map[string]any{"type": []string{"string", "null"}}
	roleEnum = map[string]any{"type": "string", "enum": accounts.Roles}

	keepTokens = map[string]any{"type": "boolean", "description": "Keep the user's API tokens working; by default they are revoked with the sessions."}
)

var schemas = map[string]any{
	"Error":  obj([]string{"detail"}, map[string]any{"detail": str}),
	"Detail": obj([]string{"detail"}, map[string]any{"detail": str}),
	"FieldErrors": map[string]any{"type": "object", "description": "Sentry's form errors: each refused field with its messages",
		"additionalProperties": strList, "minProperties": 1},
	"User": obj([]string{"id", "email"}, map[string]any{"id": str, "email": str, "username": str, "name": str,
		"isSuperuser": boolean, "isActive": boolean, "dateJoined": dateTime, "lastLogin": nullDate, "has2fa": boolean}),
	"Login":                obj([]string{"email", "password"}, map[string]any{"email": str, "password": str}),
	"Session":              obj([]string{"user", "csrfToken"}, map[string]any{"user": ref("User"), "csrfToken": str, "organization": ref("Organization")}),
	"PasswordResetRequest": obj([]string{"email"}, map[string]any{"email": str}),
	"PasswordReset": obj([]string{"token", "password"}, map[string]any{"token": str, "password": str,
		"keepTokens": keepTokens}),
	"NotificationSettings": obj(nil, map[string]any{"dailyDigest": boolean, "weeklyReports": boolean,
		"digestHour": map[string]any{"type": "integer", "minimum": 0, "maximum": 23, "description": "hour of the day the digests are sent, in timezone"},
		"timezone":   map[string]any{"type": "string", "description": "IANA time zone, e.g. Europe/Paris"}}),
	"PasswordChange": obj([]string{"password", "passwordNew"}, map[string]any{"password": str, "passwordNew": str,
		"keepTokens": keepTokens}),
	"AcceptInvite": obj([]string{"token"}, map[string]any{"token": str, "name": str, "password": map[string]any{"type": "string", "description": "Required when the invited address has no account yet."}}),
	"ApiToken": obj([]string{"id", "scopes"}, map[string]any{"id": str, "name": str, "dateCreated": dateTime, "expiresAt": nullDate,
		"lastUsedAt": nullDate, "tokenLastCharacters": str, "organization": nullStr, "project": nullStr,
		"scopes": map[string]any{"type": "array", "items": map[string]any{"type": "string", "enum": []string{accounts.ScopeRead, accounts.ScopeWrite, accounts.ScopeAdmin}}},
		"token":  map[string]any{"type": "string", "description": "Only in the answer to its creation."}}),
	"NewApiToken": obj([]string{"scopes"}, map[string]any{"name": str, "expiresAt": dateTime,
		"scopes":       map[string]any{"type": "array", "items": str, "description": "read, write, admin (or Sentry's org:read, project:write, ...)"},
		"organization": map[string]any{"type": "string", "description": "Restrict the token to this organization."},
		"project":      map[string]any{"type": "string", "description": "Restrict the token to this project of organization."}}),
	"Organization": obj([]string{"id", "slug", "name"}, map[string]any{"id": str, "slug": str, "name": str, "dateCreated": dateTime,
		"access": strList, "features": strList, "status": obj(nil, map[string]any{"id": str, "name": str}),
		"role":         map[string]any{"type": "string", "description": "The caller's role."},
		"orgRole":      map[string]any{"type": "string", "description": "The caller's role."},
		"orgRoleList":  roleList(map[string]any{"isGlobal": boolean, "isTeamRolesAllowed": boolean, "minimumTeamRole": str}),
		"teamRoleList": roleList(map[string]any{"isMinimumRoleFor": nullStr})}),
	"NewOrganization":    obj([]string{"name"}, map[string]any{"name": str, "slug": str}),
	"OrganizationUpdate": obj(nil, map[string]any{"name": str, "slug": str}),
	"Team": obj([]string{"id", "slug", "name"}, map[string]any{"id": str, "slug": str, "name": str, "dateCreated": dateTime,
		"isMember": boolean, "memberCount": integer, "hasAccess": boolean,
		"teamRole": map[string]any{"type": []string{"string", "null"}, "description": "The caller's team role; null when not a member."}}),
	"TeamRoleUpdate": obj([]string{"teamRole"}, map[string]any{"teamRole": map[string]any{"type": "string", "enum": accounts.TeamRoles}}),
	"MemberTeamRole": obj([]string{"teamRole"}, map[string]any{"isActive": boolean, "teamRole": str}),
	"NewTeam":        obj(nil, map[string]any{"name": str, "slug": str}),
	"TeamUpdate":     obj(nil, map[string]any{"name": str, "slug": str}),
	"Project": obj([]string{"id", "slug", "name"}, map[string]any{"id": str, "slug": str, "name": str, "platform": nullStr,
		"dateCreated": dateTime, "allowedDomains": strList, "status": str,
		"dataScrubber": boolean, "dataScrubberDefaults": boolean, "sensitiveFields": strList, "safeFields": strList,
		"scrubIPAddresses": boolean, "isBookmarked": boolean, "resolveAge": integer, "digestsMinDelay": integer,
		"digestsMaxDelay": integer, "scrapeJavaScript": boolean, "verifySSL": boolean, "options": map[string]any{"type": "object"},
		"securityToken": str, "fingerprintingRules": str, "groupingEnhancements": str,
		"teams":        map[string]any{"type": "array", "items": obj(nil, map[string]any{"id": str, "slug": str, "name": str})},
		"organization": obj(nil, map[string]any{"id": str, "slug": str, "name": str})}),
	"NewProject": obj([]string{"name"}, map[string]any{"name": str, "slug": str, "platform": str}),
	"ProjectUpdate": obj(nil, map[string]any{"name": str, "slug": str, "platform": str, "allowedDomains": strList,
		"dataScrubber":         map[string]any{"type": "boolean", "description": "Scrub sensitive fields, bearer tokens and card numbers before storing (admin)."},
		"dataScrubberDefaults": map[string]any{"type": "boolean", "description": "Scrub the default sensitive fields (password, secret, token, ...)."},
		"sensitiveFields":      map[string]any{"type": "array", "items": str, "description": "More field names whose values are scrubbed (case-insensitive substrings)."},
		"safeFields":           map[string]any{"type": "array", "items": str, "description": "Field names never scrubbed (case-insensitive)."},
		"scrubIPAddresses":     boolean,
		"isBookmarked":         map[string]any{"type": "boolean", "description": "The caller's bookmark."},
		"resolveAge":           map[string]any{"type": "integer", "description": "Resolve issues with no event for this many hours (0: never; at most 720)."},
		"digestsMinDelay":      map[string]any{"type": "integer", "description": "Seconds (60 to 3600)."},
		"digestsMaxDelay":      map[string]any{"type": "integer", "description": "Seconds (60 to 3600), at least digestsMinDelay."},
		"scrapeJavaScript":     boolean, "verifySSL": boolean,
		"securityToken":        map[string]any{"type": "string", "description": "Letters and digits (admin)."},
		"options":              map[string]any{"type": "object", "description": "Options to set; the others stay."},
		"fingerprintingRules":  map[string]any{"type": "string", "description": "The project's fingerprint rules in Sentry's syntax (a grouping decision)."},
		"groupingEnhancements": map[string]any{"type": "string", "description": "The project's stack-trace rules in Sentry's syntax (a grouping decision)."},
	}),
	"ProjectKey": obj([]string{"id", "public", "dsn"}, map[string]any{"id": str, "name": str, "label": str, "public": str, "secret": str,
		"projectId": integer, "isActive": boolean, "dateCreated": dateTime, "useCase": str,
		"rateLimit":  map[string]any{"type": []string{"object", "null"}, "properties": map[string]any{"window": integer, "count": integer}},
		"rateLimits": obj(nil, map[string]any{"perMinute": integer, "perHour": integer}),
		"dsn": obj(nil, map[string]any{"public": str, "secret": str, "csp": str, "security": str, "minidump": str, "nel": str,
			"unreal": str, "crons": str, "cdn": str, "playstation": str, "integration": str, "otlp_traces": str, "otlp_logs": str}),
		"browserSdkVersion":       str,
		"dynamicSdkLoaderOptions": obj(nil, map[string]any{"hasReplay": boolean, "hasPerformance": boolean, "hasDebug": boolean})}),
	"KeyUpdate": obj(nil, map[string]any{"name": str, "isActive": boolean,
		"rateLimit": map[string]any{"type": []string{"object", "null"}, "description": "count events per window seconds (60 to 86400); null removes every limit of the key",
			"properties": map[string]any{"window": integer, "count": integer}},
		"rateLimits":              obj(nil, map[string]any{"perMinute": integer, "perHour": integer}),
		"browserSdkVersion":       map[string]any{"type": "string", "enum": []string{"latest", "10.x", "9.x", "8.x", "7.x"}},
		"dynamicSdkLoaderOptions": obj(nil, map[string]any{"hasReplay": boolean, "hasPerformance": boolean, "hasDebug": boolean}),
		"useCase":                 map[string]any{"type": "string", "enum": []string{"user"}}}),
	"Member": obj([]string{"id", "email", "role"}, map[string]any{"id": str, "email": str, "name": str, "role": roleEnum, "orgRole": roleEnum,
		"pending": boolean, "expired": boolean, "inviteStatus": str, "dateCreated": dateTime, "teams": strList,
		"teamRoles":    map[string]any{"type": "array", "items": obj(nil, map[string]any{"teamSlug": str, "role": nullStr})},
		"teamRole":     map[string]any{"type": "string", "description": "In a team's member list: the member's team role there."},
		"teamSlug":     map[string]any{"type": "string", "description": "In a team's member list: the team."},
		"orgRoleList":  roleList(map[string]any{"isGlobal": boolean, "isTeamRolesAllowed": boolean, "minimumTeamRole": str}),
		"teamRoleList": roleList(map[string]any{"isMinimumRoleFor": nullStr}),
		"roleName":     str,
		"user": map[string]any{"type": []string{"object", "null"}, "description": "The member's account; null while the invitation is pending",
			"required": []string{"id", "email"}, "properties": map[string]any{"id": str, "email": str, "name": str, "username": str}}}),
	"NewMember": obj([]string{"email"}, map[string]any{"email": str, "orgRole": roleEnum, "role": roleEnum, "teams": strList}),
	"MemberUpdate": obj(nil, map[string]any{"orgRole": roleEnum, "role": roleEnum,
		"teamRoles": map[string]any{"type": "array", "description": "The member's teams afterwards, each with its role (contributor, admin or null)",
			"items": obj([]string{"teamSlug"}, map[string]any{"teamSlug": str, "role": nullStr})}}),
}

// isReleaseFileUpload reports whether rt takes a release file as a
// multipart form (a file of a name the release has is a conflict).
func isReleaseFileUpload(rt route) bool {
	return rt.method == http.MethodPost && strings.HasSuffix(rt.path, "/releases/{version}/files/")
}
