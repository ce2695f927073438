package api

// ErrUnauthenticated is what Authenticator.Principal returns for missing,
// unknown, expired or revoked credentials (as opposed to a store failure):
// the dashboard redirects to its sign-in page on it.
var ErrUnauthenticated = errUnauthenticated
