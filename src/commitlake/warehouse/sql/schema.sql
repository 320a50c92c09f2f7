-- The warehouse layout commitlake owns (idempotent: safe to run on every stage start).
-- dbt owns the tables in staging and analytics; everything else is here.
create schema if not exists raw;
create schema if not exists staging;
create schema if not exists analytics;
create schema if not exists ops;
create schema if not exists ml;

-- One row per repository and sha; the payload is the list-commits item exactly as it was fetched.
create table if not exists raw.github_commits (
    repo_full_name text        not null,
    sha            text        not null,
    authored_at    timestamptz not null,
    committed_at   timestamptz not null,
    payload        jsonb       not null,
    source_kind    text        not null,
    lake_key       text        not null,
    line_no        integer     not null,
    run_id         text        not null,
    loaded_at      timestamptz not null default now(),
    primary key (repo_full_name, sha)
);

-- dbt's incremental staging models read only rows newer than their own watermark.
create index if not exists github_commits_loaded_at on raw.github_commits (loaded_at);

create table if not exists raw.rejected_records (
    id            bigserial primary key,
    lake_key      text        not null,
    line_no       integer     not null,
    reason        text        not null,
    detail        text,
    original_text text        not null,
    run_id        text        not null,
    rejected_at   timestamptz not null default now(),
    unique (lake_key, line_no)
);

-- The ledger: one row per lake object loaded, written in the same transaction as its rows.
create table if not exists ops.loaded_objects (
    lake_key       text primary key,
    run_id         text        not null,
    records        integer     not null,
    inserted       integer     not null,
    duplicates     integer     not null,
    rejected       integer     not null,
    sha256         text,
    loaded_at      timestamptz not null default now()
);

create table if not exists ops.pipeline_runs (
    run_id       text        not null,
    stage        text        not null,
    status       text        not null check (status in ('running', 'succeeded', 'failed', 'skipped')),
    started_at   timestamptz not null default now(),
    finished_at  timestamptz,
    duration_s   double precision,
    row_counts   jsonb       not null default '{}'::jsonb,
    details      jsonb       not null default '{}'::jsonb,
    error        text,
    primary key (run_id, stage)
);

-- Incremental ingest state per source, repository and branch.
create table if not exists ops.ingest_state (
    source_kind       text        not null,
    repo_full_name    text        not null,
    branch            text        not null default '',
    last_committed_at timestamptz,
    etag              text,
    updated_at        timestamptz not null default now(),
    updated_by_run    text,
    primary key (source_kind, repo_full_name, branch)
);

create table if not exists ops.data_quality_results (
    run_id        text        not null,
    suite         text        not null,
    expectation   text        not null,
    column_name   text,
    layer         text        not null,
    severity      text        not null check (severity in ('critical', 'warning')),
    success       boolean     not null,
    observed      jsonb,
    checked_at    timestamptz not null default now()
);
create index if not exists data_quality_results_run on ops.data_quality_results (run_id);
-- The bound a result was held to: the check's arguments, or a monitor's median/MAD band.
alter table ops.data_quality_results add column if not exists threshold jsonb;
-- Anomaly monitors read their own history: the latest values per table, metric and column.
create index if not exists data_quality_results_history
    on ops.data_quality_results (suite, expectation, column_name, checked_at desc);
