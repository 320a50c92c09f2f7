{#- Commits per repository and UTC day. Incremental: only the (repository, day) pairs touched by fct rows written
    since the last run are recomputed, each from all of that day's commits (so re-keyed rows are counted right). -#}
with

commits as (

    select * from {{ ref('fct_commits') }}

),

{% if is_incremental() %}

changed_days as (

    select distinct repo_full_name, committed_date
    from {{ ref('fct_commits') }}
    where {{ watermark('transformed_at') }}

),

{% endif %}

daily as (

    select
        commits.repo_full_name,
        commits.committed_date as activity_date,
        count(*) as commit_count,
        count(*) filter (where not commits.is_merge) as non_merge_commit_count,
        count(*) filter (where commits.is_merge) as merge_commit_count,
        count(*) filter (where commits.is_conventional and not commits.is_merge) as conventional_commit_count,
        count(*) filter (where commits.is_bot) as bot_commit_count,
        count(distinct commits.author_id) as author_count,
        coalesce(sum(commits.additions), 0)::bigint as additions,
        coalesce(sum(commits.deletions), 0)::bigint as deletions,
        min(commits.committed_at) as first_commit_at,
        max(commits.committed_at) as last_commit_at,
        now() as transformed_at
    from commits
    {% if is_incremental() %}
    inner join changed_days
        on changed_days.repo_full_name = commits.repo_full_name
        and changed_days.committed_date = commits.committed_date
    {% endif %}
    group by 1, 2

)

select * from daily
