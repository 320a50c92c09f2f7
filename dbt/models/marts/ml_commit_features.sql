{#- The classifier's training and scoring table: one row per non-merge commit. The label is fct_commits'
    commit_type; `text` is the subject with a conventional prefix removed, so the label never leaks into the input.
    Incremental on fct_commits.transformed_at: new and re-keyed commits only. File counts come precomputed per
    commit from int_commit_file_counts, so no file is classified here. -#}
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
    {% if is_incremental() %}
    where commit_id in (select commit_id from commits)
    {% endif %}

),

file_counts as (

    select * from {{ ref('int_commit_file_counts') }}
    {% if is_incremental() %}
    where commit_id in (select commit_id from commits)
    {% endif %}

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
