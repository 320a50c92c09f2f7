with

daily as (

    select * from {{ ref('repo_daily_activity') }}

),

commits as (

    select * from {{ ref('fct_commits') }}

),

activity as (

    select
        repo_full_name,
        sum(commit_count)::bigint as commit_count,
        sum(non_merge_commit_count)::bigint as non_merge_commit_count,
        sum(conventional_commit_count)::bigint as conventional_commit_count,
        sum(bot_commit_count)::bigint as bot_commit_count,
        count(*) as active_days,
        min(first_commit_at) as first_commit_at,
        max(last_commit_at) as last_commit_at
    from daily
    group by repo_full_name

),

authors as (

    select
        repo_full_name,
        count(distinct author_id) as author_count
    from commits
    group by repo_full_name

),

final as (

    select
        activity.repo_full_name,
        split_part(activity.repo_full_name, '/', 1) as owner,
        substr(activity.repo_full_name, strpos(activity.repo_full_name, '/') + 1) as name,
        activity.commit_count,
        authors.author_count,
        activity.bot_commit_count,
        activity.active_days,
        activity.first_commit_at,
        activity.last_commit_at,
        round(activity.conventional_commit_count::numeric / nullif(activity.non_merge_commit_count, 0), 4)
            as conventional_share
    from activity
    inner join authors on authors.repo_full_name = activity.repo_full_name

)

select * from final
