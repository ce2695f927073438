-- A member's role in a team, Sentry's teamRole: contributor, or admin (who
-- manages the team's membership and roles). NULL is the default,
-- contributor; organisation owners and admins are team admins whatever it
-- says, and viewers are always contributors.
ALTER TABLE api.team_members ADD COLUMN role text CHECK (role IN ('contributor', 'admin'));
