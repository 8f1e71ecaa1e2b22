-- Retrain requests recorded by the API; a trainer takes every pending one at once.
CREATE TABLE IF NOT EXISTS retrain_requests (
    id           bigserial PRIMARY KEY,
    trigger      text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    taken_at     timestamptz,
    taken_by     text
);
CREATE INDEX IF NOT EXISTS retrain_requests_pending ON retrain_requests (id) WHERE taken_at IS NULL;

-- The last retrain's status, as the trainer writes it (one row).
CREATE TABLE IF NOT EXISTS retrain_status (
    id         smallint PRIMARY KEY CHECK (id = 1),
    status     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Trainers say they are alive here every few seconds.
CREATE TABLE IF NOT EXISTS trainers (
    worker  text PRIMARY KEY,
    seen_at timestamptz NOT NULL
);
