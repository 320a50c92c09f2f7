-- The role matrix, applied by the login the stages use (`pipeline`) on every stage start: idempotent.
--
--   role            raw      staging   analytics  ops    ml
--   pipeline        owner    owner     owner      owner  owner   (the login; owns everything it creates)
--   data_engineer   rw       rw        rw         r      r
--   data_scientist  r        r         r          r      rw (+ create)
--   ml_engineer     r        r         r          r      rw (+ create)
--   analyst         -        -         r          -      -
--
-- The four personas are NOLOGIN group roles: people get their own logins and are granted membership.
-- Grants cover existing tables AND tables created later (dbt rebuilds its models on every run) through
-- ALTER DEFAULT PRIVILEGES FOR ROLE <the current user>, which is `pipeline` in every deployment.
-- Without CREATEROLE missing roles are skipped with a WARNING; grants to roles that already exist are still
-- applied. That is the embedded server's case (its superuser creates the personas at bootstrap, so `pipeline`
-- needs no CREATEROLE, which would let it grant itself pg_execute_server_program) and an external
-- DATABASE_URL's whose DBA made the roles.
do $roles$
declare
    me text := current_user;
    can_create boolean := (select rolcreaterole or rolsuper from pg_roles where rolname = current_user);
    persona text;
    layer text;
    matrix constant text[][] := array[
        -- role,           schema,      access (r = read, rw = read/write, rwc = read/write/create)
        ['data_engineer',  'raw',       'rw'],
        ['data_engineer',  'staging',   'rw'],
        ['data_engineer',  'analytics', 'rw'],
        ['data_engineer',  'ops',       'r'],
        ['data_engineer',  'ml',        'r'],
        ['data_scientist', 'raw',       'r'],
        ['data_scientist', 'staging',   'r'],
        ['data_scientist', 'analytics', 'r'],
        ['data_scientist', 'ops',       'r'],
        ['data_scientist', 'ml',        'rwc'],
        ['ml_engineer',    'raw',       'r'],
        ['ml_engineer',    'staging',   'r'],
        ['ml_engineer',    'analytics', 'r'],
        ['ml_engineer',    'ops',       'r'],
        ['ml_engineer',    'ml',        'rwc'],
        ['analyst',        'analytics', 'r']
    ];
    entry text[];
    access text;
begin
    foreach persona in array array['data_engineer', 'data_scientist', 'ml_engineer', 'analyst'] loop
        if not exists (select 1 from pg_roles where rolname = persona) then
            if can_create then
                begin
                    execute format('create role %I nologin', persona);
                exception when duplicate_object then
                    null;  -- created concurrently by another stage: fine
                end;
            else
                raise warning 'commitlake: role % does not exist and % lacks CREATEROLE; skipping its grants',
                    persona, me;
            end if;
        end if;
    end loop;

    foreach entry slice 1 in array matrix loop
        persona := entry[1];
        layer := entry[2];
        access := entry[3];
        continue when not exists (select 1 from pg_roles where rolname = persona);
        continue when not exists (select 1 from pg_namespace where nspname = layer);
        execute format('grant usage on schema %I to %I', layer, persona);
        execute format('grant select on all tables in schema %I to %I', layer, persona);
        execute format('alter default privileges for role %I in schema %I grant select on tables to %I',
                       me, layer, persona);
        if access in ('rw', 'rwc') then
            execute format('grant insert, update, delete, truncate on all tables in schema %I to %I', layer, persona);
            execute format('grant usage, select, update on all sequences in schema %I to %I', layer, persona);
            execute format('alter default privileges for role %I in schema %I '
                           'grant insert, update, delete, truncate on tables to %I', me, layer, persona);
            execute format('alter default privileges for role %I in schema %I '
                           'grant usage, select, update on sequences to %I', me, layer, persona);
        end if;
        if access = 'rwc' then
            execute format('grant create on schema %I to %I', layer, persona);
        end if;
    end loop;
end
$roles$;
