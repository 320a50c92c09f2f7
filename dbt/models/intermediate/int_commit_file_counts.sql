{#- Changed files per commit by category (test, doc, ci, build, src; the rule is macros/files.sql), one row per
    commit that has a file list. Classifying a path is the most expensive expression in the project, so it runs
    once per *distinct* path of the batch, not once per file row: a history touches the same paths again and
    again (the shared histories: 427k file rows, 44k distinct lowercased paths), and the category of a path
    depends on the path alone. Incremental on stg_github__commit_files' loaded_at; a commit's files all come
    from one raw row, so they always arrive in the same batch. -#}
with

files as (

    select commit_id, lower(filename) as path, loaded_at from {{ ref('stg_github__commit_files') }}
    {% if is_incremental() %}
    where {{ watermark('loaded_at') }}
    {% endif %}

),

paths as (

    select
        path,
        reverse(split_part(reverse(path), '/', 1)) as basename
    from (select distinct path from files) as distinct_paths
    offset 0  -- evaluate the string functions once per path, not once per pattern

),

categorized_paths as (

    select
        path,
        {{ file_category('path', 'basename', 'ext') }} as category
    from (
        select
            paths.*,
            case when strpos(basename, '.') > 0 then reverse(split_part(reverse(basename), '.', 1)) end as ext
        from paths
        offset 0
    ) as split
    offset 0  -- classify once per path; without this the CASE is inlined into each of the five counts below

),

file_counts as (

    select
        files.commit_id,
        count(*) filter (where categorized_paths.category = 'test') as n_test_files,
        count(*) filter (where categorized_paths.category = 'doc') as n_doc_files,
        count(*) filter (where categorized_paths.category = 'ci') as n_ci_files,
        count(*) filter (where categorized_paths.category = 'build') as n_build_files,
        count(*) filter (where categorized_paths.category = 'src') as n_src_files,
        max(files.loaded_at) as loaded_at,
        now() as transformed_at
    from files
    inner join categorized_paths on files.path = categorized_paths.path
    group by files.commit_id

)

select * from file_counts
