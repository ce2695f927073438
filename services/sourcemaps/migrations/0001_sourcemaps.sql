-- The sourcemaps role's index of assembled artifact bundles. Only the
-- sourcemaps role writes these tables; the api reads bundle states, and
-- grouping looks files up through libs/sourcemapindex.
CREATE SCHEMA IF NOT EXISTS sourcemaps;

-- One row per uploaded bundle (by the SHA-1 of its zip), with where its
-- assembly is: assembling, ok or error (detail says why).
CREATE TABLE sourcemaps.bundles (
    id        bigserial PRIMARY KEY,
    org_id    bigint NOT NULL,
    checksum  text NOT NULL,
    state     text NOT NULL,
    detail    text NOT NULL DEFAULT '',
    release   text NOT NULL DEFAULT '',
    dist      text NOT NULL DEFAULT '',
    debug_id  text NOT NULL DEFAULT '',
    created   timestamptz NOT NULL DEFAULT now(),
    updated   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, checksum)
);

-- Every file of every ok bundle, once per project the bundle was uploaded
-- for. object is the file's name in the faultline_artifacts object store.
CREATE TABLE sourcemaps.files (
    bundle_id  bigint NOT NULL REFERENCES sourcemaps.bundles ON DELETE CASCADE,
    project_id bigint NOT NULL,
    path       text NOT NULL,
    url        text NOT NULL,
    type       text NOT NULL,
    debug_id   text NOT NULL DEFAULT '',
    sourcemap  text NOT NULL DEFAULT '',
    release    text NOT NULL DEFAULT '',
    dist       text NOT NULL DEFAULT '',
    object     text NOT NULL,
    size       bigint NOT NULL,
    PRIMARY KEY (bundle_id, project_id, path)
);
CREATE INDEX files_debug_id ON sourcemaps.files (project_id, debug_id, type) WHERE debug_id <> '';
CREATE INDEX files_release_url ON sourcemaps.files (project_id, release, dist, url);
