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
    -- the exact bytes of a line original_text cannot hold as it was (invalid UTF-8, NUL bytes); null otherwise
    original_bytes bytea,
    run_id        text        not null,
    rejected_at   timestamptz not null default now(),
    unique (lake_key, line_no)
);
-- Warehouses made before original_bytes existed get it once (no ALTER, so no lock, on every later start).
do $rejected_records$
begin
    if not exists (select 1 from information_schema.columns
                   where table_schema = 'raw' and table_name = 'rejected_records'
                     and column_name = 'original_bytes') then
        alter table raw.rejected_records add column original_bytes bytea;
    end if;
end
$rejected_records$;

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
    status       text        not null,
    started_at   timestamptz not null default now(),
    finished_at  timestamptz,
    duration_s   double precision,
    row_counts   jsonb       not null default '{}'::jsonb,
    details      jsonb       not null default '{}'::jsonb,
    error        text,
    primary key (run_id, stage)
);

-- partial: done for every input but some (named in details); abandoned: found still `running` by a later
-- run after its process had died (finished_at is when that was noticed). Replaced only when it differs, so
-- databases created before a status was added accept it.
do $pipeline_runs$
begin
    if coalesce((select pg_get_constraintdef(oid) from pg_constraint
                 where conname = 'pipeline_runs_status_check' and conrelid = 'ops.pipeline_runs'::regclass), '')
       not like '%abandoned%' then
        alter table ops.pipeline_runs drop constraint if exists pipeline_runs_status_check;
        alter table ops.pipeline_runs add constraint pipeline_runs_status_check
            check (status in ('running', 'succeeded', 'partial', 'failed', 'skipped', 'abandoned'));
    end if;
end
$pipeline_runs$;

-- Incremental ingest state per source, repository and branch.
create table if not exists ops.ingest_state (
    source_kind       text        not null,
    repo_full_name    text        not null,
    branch            text        not null default '',
    last_committed_at timestamptz,
    etag              text,
    -- every ancestor of this commit is in the lake: the next run compares from it
    head_sha          text,
    -- where a walk the request budget stopped goes on; null when the last walk finished
    resume            jsonb,
    updated_at        timestamptz not null default now(),
    updated_by_run    text,
    primary key (source_kind, repo_full_name, branch)
);
-- Warehouses made before head_sha/resume existed get them once (no ALTER, so no lock, on every later start).
do $ingest_state$
begin
    if not exists (select 1 from information_schema.columns
                   where table_schema = 'ops' and table_name = 'ingest_state' and column_name = 'head_sha') then
        alter table ops.ingest_state add column head_sha text, add column resume jsonb;
    end if;
end
$ingest_state$;

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
