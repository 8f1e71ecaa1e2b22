-- Model bundles: one row per version, its files as bytes, so replicas need no shared disk.
CREATE TABLE IF NOT EXISTS model_versions (
    number     integer PRIMARY KEY,
    version    text UNIQUE NOT NULL,
    manifest   jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS model_files (
    version text NOT NULL REFERENCES model_versions (version),
    name    text NOT NULL,
    content bytea NOT NULL,
    PRIMARY KEY (version, name)
);

-- The current version (one row); serial grows by one at every switch, replicas poll it.
CREATE TABLE IF NOT EXISTS model_pointer (
    id          smallint PRIMARY KEY CHECK (id = 1),
    version     text NOT NULL REFERENCES model_versions (version),
    history     jsonb NOT NULL,
    switched_at timestamptz NOT NULL,
    serial      bigint NOT NULL
);
