{#- Commits per author and UTC day, incremental like repo_daily_activity. When authors are merged, the absorbed
    author's rows no longer match dim_authors; the post-hook in the yml deletes them. -#}
-- depends_on: {{ ref('dim_authors') }}
with

commits as (

    select * from {{ ref('fct_commits') }}

),

{% if is_incremental() %}

changed_days as (

    select distinct author_id, committed_date
    from {{ ref('fct_commits') }}
    where {{ watermark('transformed_at') }}

),

{% endif %}

daily as (

    select
        commits.author_id,
        commits.committed_date as activity_date,
        count(*) as commit_count,
        count(*) filter (where commits.is_merge) as merge_commit_count,
        count(*) filter (where commits.is_conventional and not commits.is_merge) as conventional_commit_count,
        count(distinct commits.repo_full_name) as repo_count,
        coalesce(sum(commits.additions), 0)::bigint as additions,
        coalesce(sum(commits.deletions), 0)::bigint as deletions,
        now() as transformed_at
    from commits
    {% if is_incremental() %}
    inner join changed_days
        on changed_days.author_id = commits.author_id
        and changed_days.committed_date = commits.committed_date
    {% endif %}
    group by 1, 2

)

select * from daily
