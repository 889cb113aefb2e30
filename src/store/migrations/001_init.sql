-- 001_init: job records, their parameters and results, and the global change counter.
-- Times are microseconds since the Unix epoch (0 = nil); phases are enum otf_phase numbers.

-- 'OTF:' marks the file as an OTF store (checked at open, see store_sqlite.c).
PRAGMA application_id = 1330923066;

CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    run_id          TEXT,
    owner           TEXT,
    phase           INTEGER NOT NULL,
    creation_us     INTEGER NOT NULL,
    start_us        INTEGER NOT NULL DEFAULT 0,
    end_us          INTEGER NOT NULL DEFAULT 0,
    quote_us        INTEGER NOT NULL DEFAULT 0,
    exec_duration_s INTEGER NOT NULL DEFAULT 0,
    destruction_us  INTEGER NOT NULL DEFAULT 0,
    error_summary   TEXT,
    error_is_fatal  INTEGER NOT NULL DEFAULT 0,
    patches_done    INTEGER NOT NULL DEFAULT 0,
    patches_total   INTEGER NOT NULL DEFAULT 0,
    stage           TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    upload_bytes    INTEGER NOT NULL DEFAULT 0,
    -- batch key, copied from the parameters "model" and "precision" (canonical, default FP32)
    model           TEXT,
    precision       TEXT NOT NULL DEFAULT 'FP32',
    -- claim bookkeeping: the worker holding an EXECUTING job and its lease
    worker_id       TEXT,
    lease_until_us  INTEGER NOT NULL DEFAULT 0,
    -- when the job last entered QUEUED (claims take the oldest first)
    queued_us       INTEGER NOT NULL DEFAULT 0,
    -- value of meta.change_seq at the last write to this job
    seq             INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE params (
    job_id       TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    pos          INTEGER NOT NULL,
    name         TEXT NOT NULL,
    value        TEXT NOT NULL,
    by_reference INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, pos)
) WITHOUT ROWID;

CREATE TABLE results (
    job_id     TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    pos        INTEGER NOT NULL,
    id         TEXT NOT NULL,
    mime       TEXT,
    size_bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, pos),
    UNIQUE (job_id, id)
) WITHOUT ROWID;

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO meta (key, value) VALUES ('change_seq', 0);

CREATE INDEX jobs_owner_creation ON jobs (owner, creation_us);
CREATE INDEX jobs_creation ON jobs (creation_us);
CREATE INDEX jobs_queue ON jobs (phase, model, precision, queued_us);
CREATE INDEX jobs_destruction ON jobs (destruction_us);
CREATE INDEX jobs_worker ON jobs (worker_id);
