-- commitlake warehouse: databases, schemas and the role matrix.
--
--   role            raw    staging  analytics  ops    ml
--   pipeline        owner  owner    owner      owner  owner   (the login the stages use)
--   data_engineer   rw     rw       rw         -      -
--   data_scientist  r      r        r          r      rw
--   ml_engineer     r      r        r          r      rw
--   analyst         -      -        r          -      -
--
-- The four team roles are NOLOGIN groups: people get their own login roles and are granted a group.
-- Tables do not exist yet (the pipeline creates them), so the grants are default privileges on
-- whatever `pipeline` creates later, plus schema usage now.
\set ON_ERROR_STOP on
\getenv pipeline_password PIPELINE_PASSWORD
\getenv mlflow_password MLFLOW_PASSWORD
\getenv warehouse_db COMMITLAKE_DATABASE
\getenv mlflow_db MLFLOW_DATABASE
\getenv mlflow_enabled MLFLOW_DATABASE_ENABLED

create role data_engineer nologin;
create role data_scientist nologin;
create role ml_engineer nologin;
create role analyst nologin;
create role pipeline login password :'pipeline_password';

create database :"warehouse_db" owner pipeline;
revoke all on database :"warehouse_db" from public;
grant connect, temporary on database :"warehouse_db" to data_engineer, data_scientist, ml_engineer, analyst;

\if :mlflow_enabled
create role mlflow login password :'mlflow_password';
create database :"mlflow_db" owner mlflow;
revoke all on database :"mlflow_db" from public;
\endif

\connect :"warehouse_db"
revoke create on schema public from public;
create schema raw authorization pipeline;
create schema staging authorization pipeline;
create schema analytics authorization pipeline;
create schema ops authorization pipeline;
create schema ml authorization pipeline;

-- data_engineer: read/write raw, staging, analytics
grant usage on schema raw, staging, analytics to data_engineer;
alter default privileges for role pipeline in schema raw, staging, analytics
    grant select, insert, update, delete on tables to data_engineer;
alter default privileges for role pipeline in schema raw, staging, analytics
    grant usage, select on sequences to data_engineer;

-- data_scientist, ml_engineer: read everything, write ml
grant usage on schema raw, staging, analytics, ops, ml to data_scientist, ml_engineer;
grant create on schema ml to data_scientist, ml_engineer;
alter default privileges for role pipeline in schema raw, staging, analytics, ops
    grant select on tables to data_scientist, ml_engineer;
alter default privileges for role pipeline in schema ml
    grant select, insert, update, delete on tables to data_scientist, ml_engineer;
alter default privileges for role pipeline in schema ml
    grant usage, select on sequences to data_scientist, ml_engineer;

-- analyst: read analytics only
grant usage on schema analytics to analyst;
alter default privileges for role pipeline in schema analytics grant select on tables to analyst;
