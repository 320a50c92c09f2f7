{#- The classifier's training and scoring table: one row per non-merge commit. The label is fct_commits'
    commit_type; `text` is the subject with a conventional prefix removed, so the label never leaks into the input.
    Incremental on fct_commits.transformed_at: new and re-keyed commits only. Everything per commit comes
    precomputed (file counts from int_commit_file_counts, `paths` from int_commit_paths, `body` from
    int_commit_texts), so dbt builds those beside the marts and this model only joins them and counts the
    author's history. Leak-free by construction: `text` has no type or scope, `body` no header line, trailer or
    hash, `paths` are the changed files, and the author history counts only *earlier* commits. -#}
with

{% if is_incremental() %}

batch_authors as (

    {#- a commit that arrives late (older than commits already here) changes the author history of the
        author's later commits: those are recomputed too, so incremental equals a full refresh -#}
    select author_id, min(committed_at) as since
    from {{ ref('fct_commits') }}
    where not is_merge and {{ watermark('transformed_at') }}
    group by author_id

),

{% endif %}

commits as (

    select fct.* from {{ ref('fct_commits') }} as fct
    {% if is_incremental() %}
    left join batch_authors on batch_authors.author_id = fct.author_id
    {% endif %}
    where not fct.is_merge
    {% if is_incremental() %}
        and ({{ watermark('transformed_at', 'fct.transformed_at') }} or fct.committed_at >= batch_authors.since)
    {% endif %}

),

texts as (

    select * from {{ ref('int_commit_texts') }}
    {% if is_incremental() %}
    where commit_id in (select commit_id from commits)
    {% endif %}

),

paths as (

    select * from {{ ref('int_commit_paths') }}
    {% if is_incremental() %}
    where commit_id in (select commit_id from commits)
    {% endif %}

),

author_history as (

    {#- the author's commits before this one (any repository), counted over the full history of the
        batch's authors so an incremental run sees the same numbers as a full refresh -#}
    select
        commit_id,
        count(*) over (
            partition by author_id order by committed_at, commit_id rows between unbounded preceding and 1 preceding
        ) as author_prior_commits
    from {{ ref('fct_commits') }}
    where not is_merge
    {% if is_incremental() %}
        and author_id in (select author_id from commits)
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
        texts.body,
        coalesce(paths.paths, '') as paths,
        commits.is_bot,
        commits.files_changed,
        commits.additions,
        commits.deletions,
        coalesce(file_counts.n_test_files, 0) as n_test_files,
        coalesce(file_counts.n_doc_files, 0) as n_doc_files,
        coalesce(file_counts.n_ci_files, 0) as n_ci_files,
        coalesce(file_counts.n_build_files, 0) as n_build_files,
        coalesce(file_counts.n_src_files, 0) as n_src_files,
        texts.message_length,
        texts.has_body,
        extract(hour from commits.committed_at at time zone 'UTC')::integer as commit_hour,
        extract(isodow from commits.committed_at at time zone 'UTC')::integer as commit_dow,
        coalesce(author_history.author_prior_commits, 0) as author_prior_commits,
        commits.transformed_at
    from commits
    inner join texts on texts.commit_id = commits.commit_id
    left join file_counts on file_counts.commit_id = commits.commit_id
    left join paths on paths.commit_id = commits.commit_id
    left join author_history on author_history.commit_id = commits.commit_id

)

select * from final
