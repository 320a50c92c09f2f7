{#- One row per commit with its Conventional Commits parse and resolved author.
    Incremental: new staging rows past the loaded_at watermark, plus the rare old rows whose author was re-resolved
    (a new commit joined two identities into one author), so author_id always matches dim_authors. -#}
with

{% if is_incremental() %}

stored as (

    select commit_id, author_identity_id, author_id, is_bot from {{ this }}

),

{% endif %}

author_map as (

    select * from {{ ref('int_author_map') }}

),

commits as (

    select * from {{ ref('stg_github__commits') }}
    {% if is_incremental() %}
    where {{ watermark('loaded_at') }}

    union all

    select * from {{ ref('stg_github__commits') }}
    where commit_id in (
        select stored.commit_id
        from stored
        inner join author_map on author_map.identity_id = stored.author_identity_id
        where stored.author_id <> author_map.author_id or stored.is_bot <> author_map.is_bot
    )
    and not {{ watermark('loaded_at') }}
    {% endif %}

),

subjects as (

    select
        commits.*,
        {{ commit_subject('commits.message') }} as subject
    from commits

),

parsed as (

    select
        subjects.*,
        {{ cc_is_conventional('subjects.subject') }} as is_conventional,
        {{ cc_header('subjects.subject') }} as header
    from subjects

),

final as (

    select
        parsed.commit_id,
        parsed.repo_full_name,
        parsed.sha,
        author_map.author_id,
        author_map.identity_id as author_identity_id,
        parsed.authored_at,
        parsed.committed_at,
        (parsed.committed_at at time zone 'UTC')::date as committed_date,
        parsed.subject,
        case when parsed.is_conventional then {{ cc_type('parsed.header') }} end as commit_type,
        case when parsed.is_conventional then {{ cc_scope('parsed.header') }} end as commit_scope,
        parsed.is_conventional and ({{ cc_bang('parsed.header') }} or {{ has_breaking_footer('parsed.message') }})
            as is_breaking,
        parsed.is_conventional,
        parsed.parent_count > 1 as is_merge,
        author_map.is_bot,
        parsed.additions,
        parsed.deletions,
        parsed.files_changed,
        parsed.loaded_at,
        now() as transformed_at
    from parsed
    inner join author_map
        on author_map.identity_id = {{ identity_id('parsed.author_name', 'parsed.author_email') }}

)

select * from final
