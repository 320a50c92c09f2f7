-- The tables the predict stage writes (commitlake.ml._predict): analytics.commit_type_predictions (not dbt's, so
-- commitlake's like raw and ops) and ops.model_drift. Idempotent: run by ensure_schema and again inside predict's
-- transaction.
create schema if not exists analytics;
create table if not exists analytics.commit_type_predictions (
    commit_id      text             primary key,
    repo_full_name text             not null,
    sha            text             not null,
    predicted_type text             not null,
    probability    double precision not null check (probability between 0 and 1),
    model_name     text             not null,
    model_version  integer          not null,
    mlflow_run_id  text             not null,
    run_id         text             not null,
    predicted_at   timestamptz      not null default now()
);
-- tables written before the column was named as the contract says
do $$ begin
    if exists (select 1 from information_schema.columns where table_schema = 'analytics'
               and table_name = 'commit_type_predictions' and column_name = 'confidence') then
        alter table analytics.commit_type_predictions rename column confidence to probability;
    end if;
end $$;

-- one row per scoring batch and model: PSI of the features and of the predicted types against the training reference
create schema if not exists ops;
create table if not exists ops.model_drift (
    run_id         text             not null,
    model_name     text             not null,
    model_version  integer          not null,
    measured_at    timestamptz      not null default now(),
    rows           bigint           not null,
    prediction_psi double precision not null,
    feature_psi    jsonb            not null,
    max_psi        double precision not null,
    drifted        boolean          not null,
    primary key (run_id, model_name)
);
