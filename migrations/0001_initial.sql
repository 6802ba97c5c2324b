-- bitlab results database, schema version 1.
-- Timestamps are RFC 3339 text (UTC). Booleans are 0/1 integers.

-- One row per experiment file name; the TOML it was last run from is kept verbatim.
CREATE TABLE experiments (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    source_toml TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);

-- One row per `bitlab run` invocation, with the environment it ran in.
CREATE TABLE sweeps (
    id               INTEGER PRIMARY KEY,
    experiment_id    INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    git_commit       TEXT,
    git_dirty        INTEGER NOT NULL CHECK (git_dirty IN (0, 1)),
    bitlab_version   TEXT    NOT NULL,
    libtorch_version TEXT    NOT NULL,
    cpu_model        TEXT    NOT NULL,
    threads          INTEGER NOT NULL,
    host             TEXT    NOT NULL,
    device           TEXT    NOT NULL,
    started_at       TEXT    NOT NULL,
    ended_at         TEXT,
    status           TEXT    NOT NULL DEFAULT 'running'
                     CHECK (status IN ('running', 'done', 'failed', 'interrupted'))
);
CREATE INDEX sweeps_experiment ON sweeps(experiment_id);

-- One row per distinct resolved configuration (hash) of an experiment.
CREATE TABLE trials (
    id            INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    hash          TEXT    NOT NULL,
    label         TEXT    NOT NULL,
    config_json   TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'running', 'done', 'failed', 'interrupted')),
    error         TEXT,
    sweep_id      INTEGER REFERENCES sweeps(id) ON DELETE SET NULL,
    started_at    TEXT,
    finished_at   TEXT,
    duration_s    REAL,
    UNIQUE (experiment_id, hash)
);

-- Scalar results; step NULL is the final value, otherwise a point on a curve (e.g. the epoch).
CREATE TABLE metrics (
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    key      TEXT    NOT NULL,
    step     INTEGER,
    value    REAL    NOT NULL
);
-- A trial has at most one value per (key, step); NULL steps are distinct in a plain UNIQUE.
CREATE UNIQUE INDEX metrics_final ON metrics(trial_id, key) WHERE step IS NULL;
CREATE UNIQUE INDEX metrics_curve ON metrics(trial_id, key, step) WHERE step IS NOT NULL;

-- Latency / memory points: median and p95 over `repeats` runs, in `unit`.
CREATE TABLE measurements (
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    kind     TEXT    NOT NULL,
    kernel   TEXT    NOT NULL,
    seq_len  INTEGER NOT NULL,
    batch    INTEGER NOT NULL,
    median   REAL    NOT NULL,
    p95      REAL    NOT NULL,
    repeats  INTEGER NOT NULL,
    unit     TEXT    NOT NULL
);
CREATE INDEX measurements_trial ON measurements(trial_id);

-- The packed model file a trial exported (at most one per trial).
CREATE TABLE artifacts (
    trial_id INTEGER PRIMARY KEY REFERENCES trials(id) ON DELETE CASCADE,
    path     TEXT    NOT NULL,
    bytes    INTEGER NOT NULL,
    sha256   TEXT    NOT NULL
);
