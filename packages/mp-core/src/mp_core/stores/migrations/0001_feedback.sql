-- Feedback rows: one per acknowledged POST /feedback, numbered 1, 2, 3... by the counter below.
CREATE TABLE IF NOT EXISTS feedback (
    seq                bigint PRIMARY KEY,
    timestamp          text NOT NULL,
    model_version      text NOT NULL,
    "Age"              integer NOT NULL,
    "Gender"           text NOT NULL,
    "Department"       text NOT NULL,
    "CGPA"             double precision NOT NULL,
    "Sleep_Duration"   double precision NOT NULL,
    "Study_Hours"      double precision NOT NULL,
    "Social_Media_Hours" double precision NOT NULL,
    "Physical_Activity" double precision NOT NULL,
    "Stress_Level"     integer NOT NULL,
    prediction         smallint NOT NULL,
    probability        double precision NOT NULL,
    actual             smallint NOT NULL,
    idempotency_key    text UNIQUE,
    request            jsonb
);

-- One row: the number of feedback rows. Taking its row lock orders concurrent writers.
CREATE TABLE IF NOT EXISTS feedback_counter (
    id   smallint PRIMARY KEY CHECK (id = 1),
    rows bigint NOT NULL
);
INSERT INTO feedback_counter (id, rows) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
