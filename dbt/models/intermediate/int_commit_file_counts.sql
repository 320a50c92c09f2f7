{#- Changed files per commit by category (test, doc, ci, build, src; the rule is macros/files.sql), one row per
    commit that has a file list. Classifying a path is the most expensive expression in the project (millions of
    file rows), so it runs once per file, when the file first arrives: incremental on stg_github__commit_files'
    loaded_at. A commit's files all come from one raw row, so they always arrive in the same batch. -#}
with

files as (

    select commit_id, filename, loaded_at from {{ ref('stg_github__commit_files') }}
    {% if is_incremental() %}
    where {{ watermark('loaded_at') }}
    {% endif %}

),

lowered as (

    select
        commit_id,
        loaded_at,
        lower(filename) as path,
        reverse(split_part(reverse(lower(filename)), '/', 1)) as basename
    from files
    offset 0  -- evaluate the string functions once per file, not once per pattern

),

categorized as (

    select
        commit_id,
        loaded_at,
        {{ file_category('path', 'basename', 'ext') }} as category
    from (
        select
            lowered.*,
            case when strpos(basename, '.') > 0 then reverse(split_part(reverse(basename), '.', 1)) end as ext
        from lowered
        offset 0
    ) as split
    offset 0  -- classify once per file; without this the CASE is inlined into each of the five counts below

),

file_counts as (

    select
        commit_id,
        count(*) filter (where category = 'test') as n_test_files,
        count(*) filter (where category = 'doc') as n_doc_files,
        count(*) filter (where category = 'ci') as n_ci_files,
        count(*) filter (where category = 'build') as n_build_files,
        count(*) filter (where category = 'src') as n_src_files,
        max(loaded_at) as loaded_at,
        now() as transformed_at
    from categorized
    group by commit_id

)

select * from file_counts
