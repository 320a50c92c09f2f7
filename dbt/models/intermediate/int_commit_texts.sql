{#- What the classifier reads from a commit's message, one row per non-merge commit: `body` (cc_body: the message
    after its first line with header lines, trailers and hashes cut out), the message's length, and whether it has
    a body. A model of its own rather than a CTE of ml_commit_features: it needs only staging, so dbt builds it
    beside fct_commits and int_commit_file_counts instead of alone at the end of the build, where the other
    thread has nothing to do (at 1M commits, 12.7 s of regular expressions). Incremental on
    stg_github__commits' loaded_at: a commit's message never changes, so each commit is read once. -#}
with

messages as (

    select
        commit_id,
        message,
        {{ commit_subject('message') }} as subject,
        {{ cc_body_text('message') }} as body_text,
        loaded_at
    from {{ ref('stg_github__commits') }}
    where parent_count <= 1  -- a merge is never classified (fct_commits.is_merge)
    {% if is_incremental() %}
        and {{ watermark('loaded_at') }}
    {% endif %}
    offset 0  -- body_text once per row: cc_body reads it up to four times

),

final as (

    select
        commit_id,
        {{ cc_body('body_text') }} as body,
        length(message) as message_length,
        coalesce(btrim(substr(message, length(subject) + 1), E' \t\r\n') <> '', false) as has_body,
        loaded_at,
        now() as transformed_at
    from messages

)

select * from final
