{#- One row per raw author (name, e-mail) pair with its commit count and dates. Incremental aggregate: a run
    aggregates only the new commits and adds them to the stored totals, so author resolution reads a table of a
    few thousand identities instead of every commit. Relies on raw rows being insert-only (raw's primary key). -#}
with

commits as (

    select * from {{ ref('stg_github__commits') }}
    {% if is_incremental() %}
    where {{ watermark('max_loaded_at', 'loaded_at') }}
    {% endif %}

),

batch as (

    select
        {{ identity_id('author_name', 'author_email') }} as identity_id,
        author_name,
        author_email,
        count(*) as commit_count,
        min(authored_at) as first_authored_at,
        max(authored_at) as last_authored_at,
        max(loaded_at) as max_loaded_at
    from commits
    group by 1, 2, 3

),

{% if is_incremental() %}

stored as (

    select * from {{ this }}
    where identity_id in (select identity_id from batch)

),

merged as (

    select
        batch.identity_id,
        batch.author_name,
        batch.author_email,
        batch.commit_count + coalesce(stored.commit_count, 0) as commit_count,
        least(batch.first_authored_at, stored.first_authored_at) as first_authored_at,
        greatest(batch.last_authored_at, stored.last_authored_at) as last_authored_at,
        batch.max_loaded_at
    from batch
    left join stored on stored.identity_id = batch.identity_id

)

{% else %}

merged as (

    select * from batch

)

{% endif %}

select * from merged
