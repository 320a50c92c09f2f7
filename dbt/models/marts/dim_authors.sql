with

author_map as (

    select * from {{ ref('int_author_map') }}

),

authors as (

    select
        author_id,
        min(canonical_name) as canonical_name,
        min(canonical_email) as canonical_email,
        bool_or(is_bot) as is_bot,
        sum(commit_count)::bigint as commit_count,
        count(*) as identity_count,
        count(distinct email_key) as email_key_count,
        min(first_authored_at) as first_commit_at,
        max(last_authored_at) as last_commit_at
    from author_map
    group by author_id

)

select * from authors
