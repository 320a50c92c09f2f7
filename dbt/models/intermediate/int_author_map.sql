{#- Author resolution: which author each raw (name, e-mail) identity belongs to.

    The rule (documented in int_author_map.yml, unit-tested below):
      1. Each identity gets an e-mail key: a GitHub noreply address becomes its login (`github:login`), any other
         address its lowercased form; so case variants and name variants of one address are one author.
      2. Two e-mail keys are the same author when they were used under the same normalized name of at least two
         words (not a placeholder such as "your name"), and both or neither are bots.
      3. Authors are the connected components of that graph; the component's id is md5 of its earliest-seen key,
         so an author keeps its id when later commits join more addresses to it. -#}
with recursive

identities as (

    select * from {{ ref('int_author_identities') }}

),

keyed as (

    select
        identity_id,
        author_name,
        author_email,
        commit_count,
        first_authored_at,
        last_authored_at,
        {{ email_key('author_name', 'author_email') }} as email_key,
        {{ merge_name_key('author_name') }} as name_key,
        {{ is_bot_identity('author_name', 'author_email') }} as is_identity_bot
    from identities

),

nodes as (

    select
        email_key,
        min(first_authored_at) as first_authored_at,
        bool_or(is_identity_bot) as is_bot
    from keyed
    group by email_key

),

edges as (

    select distinct
        a.email_key as src,
        b.email_key as dst
    from keyed as a
    inner join keyed as b
        on a.name_key = b.name_key
        and a.email_key <> b.email_key
        and a.is_identity_bot = b.is_identity_bot

),

reach (src, dst) as (

    select email_key, email_key from nodes

    union

    select reach.src, edges.dst
    from reach
    inner join edges on edges.src = reach.dst

),

components as (

    select distinct on (reach.src)
        reach.src as email_key,
        reach.dst as representative_key
    from reach
    inner join nodes on nodes.email_key = reach.dst
    order by reach.src, nodes.first_authored_at, reach.dst

),

resolved as (

    select
        keyed.*,
        components.representative_key as author_key,
        md5(components.representative_key) as author_id
    from keyed
    inner join components on components.email_key = keyed.email_key

),

authors as (

    select distinct on (author_id)
        author_id,
        author_name as canonical_name,
        author_email as canonical_email,
        bool_or(is_identity_bot) over (partition by author_id) as is_bot
    from resolved
    order by author_id, commit_count desc, last_authored_at desc, identity_id

),

final as (

    select
        resolved.identity_id,
        resolved.author_name,
        resolved.author_email,
        resolved.email_key,
        resolved.name_key,
        resolved.is_identity_bot,
        resolved.author_id,
        resolved.author_key,
        authors.canonical_name,
        authors.canonical_email,
        authors.is_bot,
        resolved.commit_count,
        resolved.first_authored_at,
        resolved.last_authored_at
    from resolved
    inner join authors on authors.author_id = resolved.author_id

)

select * from final
