{#- The classifier's training and scoring table: one row per non-merge commit. The label is fct_commits'
    commit_type; `text` is the subject with a conventional prefix removed, so the label never leaks into the input.
    Incremental on fct_commits.transformed_at: new and re-keyed commits only. -#}
with

commits as (

    select * from {{ ref('fct_commits') }}
    where not is_merge
    {% if is_incremental() %}
        and {{ watermark('transformed_at') }}
    {% endif %}

),

messages as (

    select commit_id, message from {{ ref('stg_github__commits') }}

),

files as (

    select commit_id, filename from {{ ref('stg_github__commit_files') }}
    {% if is_incremental() %}
    where commit_id in (select commit_id from commits)
    {% endif %}

),

lowered as (

    select
        commit_id,
        lower(filename) as path,
        reverse(split_part(reverse(lower(filename)), '/', 1)) as basename
    from files
    offset 0  -- evaluate the string functions once per file, not once per pattern

),

categorized as (

    select
        commit_id,
        {{ file_category('path', 'basename', 'ext') }} as category
    from (
        select
            lowered.*,
            case when strpos(basename, '.') > 0 then reverse(split_part(reverse(basename), '.', 1)) end as ext
        from lowered
        offset 0
    ) as split

),

file_counts as (

    select
        commit_id,
        count(*) filter (where category = 'test') as n_test_files,
        count(*) filter (where category = 'doc') as n_doc_files,
        count(*) filter (where category = 'ci') as n_ci_files,
        count(*) filter (where category = 'build') as n_build_files,
        count(*) filter (where category = 'src') as n_src_files
    from categorized
    group by commit_id

),

final as (

    select
        commits.commit_id,
        commits.repo_full_name,
        commits.sha,
        commits.committed_at,
        commits.commit_type,
        {{ cc_text('commits.subject', 'commits.is_conventional') }} as text,
        commits.is_bot,
        commits.files_changed,
        commits.additions,
        commits.deletions,
        coalesce(file_counts.n_test_files, 0) as n_test_files,
        coalesce(file_counts.n_doc_files, 0) as n_doc_files,
        coalesce(file_counts.n_ci_files, 0) as n_ci_files,
        coalesce(file_counts.n_build_files, 0) as n_build_files,
        coalesce(file_counts.n_src_files, 0) as n_src_files,
        length(messages.message) as message_length,
        coalesce(btrim(substr(messages.message, length(commits.subject) + 1), E' \t\r\n') <> '', false) as has_body,
        commits.transformed_at
    from commits
    inner join messages on messages.commit_id = commits.commit_id
    left join file_counts on file_counts.commit_id = commits.commit_id

)

select * from final
