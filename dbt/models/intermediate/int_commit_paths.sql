{#- The classifier's `paths`: a commit's changed files (the first 100), lowercased and space-separated in the
    list's order, one row per commit that has a file list. A model of its own for the same reason as
    int_commit_texts: it needs only staging, so dbt builds it while the marts build instead of inside
    ml_commit_features at the end (at 1M commits, a 15 s aggregate over 5.5M file rows). Incremental on
    stg_github__commit_files' loaded_at; a commit's files all come from one raw row, so they arrive together. -#}
with

files as (

    select commit_id, filename, file_index, loaded_at from {{ ref('stg_github__commit_files') }}
    {% if is_incremental() %}
    where {{ watermark('loaded_at') }}
    {% endif %}

),

final as (

    select
        commit_id,
        string_agg(lower(filename), ' ' order by file_index) filter (where file_index <= 100) as paths,
        max(loaded_at) as loaded_at,
        now() as transformed_at
    from files
    group by commit_id

)

select * from final
