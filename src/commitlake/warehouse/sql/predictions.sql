-- analytics.commit_type_predictions: written by the predict stage (commitlake.ml._predict), not by dbt, so its
-- table is commitlake's like raw and ops. Idempotent: run by ensure_schema and again inside predict's transaction.
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
