{#- The changed paths of each commit that has a file list, as the classifier reads them: lowercased, in the
    payload's order, the first 100, space-separated. A model of its own so dbt builds it beside
    int_commit_file_counts and fct_commits instead of inside ml_commit_features, which runs last and alone
    (the aggregation was 16 s of its 60 s at 1M commits), and so a commit's paths are aggregated once, not each
    time ml_commit_features recomputes the commit for its author's history. Incremental on
    stg_github__commit_files' loaded_at; a commit's files all come from one raw row, so they always arrive in
    the same batch. -#}
select
    commit_id,
    string_agg(lower(filename), ' ' order by file_index) filter (where file_index <= 100) as paths,
    max(loaded_at) as loaded_at,
    now() as transformed_at
from {{ ref('stg_github__commit_files') }}
{% if is_incremental() %}
where {{ watermark('loaded_at') }}
{% endif %}
group by commit_id
