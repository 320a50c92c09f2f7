{#- Author identity helpers. The resolution rule itself lives in models/intermediate/int_author_map.sql. -#}

{#- Bot accounts: GitHub App users (`name[bot]`, `123+name[bot]@users.noreply.github.com`), display names ending in
    the word "bot" ("Electron Bot", "Renovate Bot"), logins or mailbox names ending in `-bot`/`.bot`/`_bot`
    (semantic-release-bot, greenkeeperio-bot, roller-bot), `noreply@`/`no-reply@` mailboxes, the hosted
    dependency services' domains, and a short list of well-known automation accounts. -#}
{% macro is_bot_identity(name, email) -%}
    (
        lower(coalesce({{ name }}, '')) ~ '\[bot\]'
        or lower(coalesce({{ email }}, '')) ~ '\[bot\]@'
        or lower(coalesce({{ name }}, '')) ~ '(^|[^a-z0-9])bot$'
        or lower(coalesce({{ name }}, '')) ~ '^(dependabot|renovate|greenkeeper|snyk|mergify|imgbot|allcontributors|semantic-release|github-actions|copilot)([-_ ]|$)'
        or lower(coalesce({{ name }}, '')) ~ '\m(renovate|dependabot|greenkeeper)\M'
        or split_part(lower(coalesce({{ email }}, '')), '@', 1) ~ '(^|[-_.+])bot$'
        or split_part(lower(coalesce({{ email }}, '')), '@', 1) in ('noreply', 'no-reply', 'action', 'actions')
        or split_part(lower(coalesce({{ email }}, '')), '@', 2) in ('renovateapp.com', 'greenkeeper.io', 'dependabot.com')
        or lower(coalesce({{ email }}, '')) ~ '^([0-9]+\+)?copilot@users\.noreply\.github\.com$'
    )
{%- endmacro %}

{#- The e-mail side of an identity: a GitHub noreply address (`12345+login@users.noreply.github.com` or the older
    `login@users.noreply.github.com`) becomes `github:login`; any other address `email:<lowercased>`; a missing
    address falls back to `name:<normalized name>`. -#}
{% macro email_key(name, email) -%}
    case
        when lower(btrim({{ email }})) ~ '^([0-9]+\+)?[^@+]+@users\.noreply\.github\.com$'
            then 'github:' || regexp_replace(split_part(lower(btrim({{ email }})), '@', 1), '^[0-9]+\+', '')
        when nullif(btrim({{ email }}), '') is not null
            then 'email:' || lower(btrim({{ email }}))
        else 'name:' || {{ normalized_name(name) }}
    end
{%- endmacro %}

{#- Lowercased, whitespace collapsed and trimmed. -#}
{% macro normalized_name(name) -%}
    btrim(regexp_replace(lower(coalesce({{ name }}, '')), '\s+', ' ', 'g'))
{%- endmacro %}

{#- The name side of an identity, used to join e-mail variants: only a normalized name of two or more words that
    is not a placeholder. Single words ("hugo", "james", "sapphi-red") are too ambiguous to merge people on. -#}
{% macro merge_name_key(name) -%}
    case
        when {{ normalized_name(name) }} ~ '^\S+( \S+)+$'
            and {{ normalized_name(name) }} not in (
                'your name', 'unknown user', 'github action', 'github actions', 'github enterprise',
                'the author', 'root user', 'local user', 'no name', 'git user', 'default user'
            )
            then {{ normalized_name(name) }}
    end
{%- endmacro %}

{#- A stable id for one raw (name, e-mail) pair, the unit the identity aggregate is keyed on. -#}
{% macro identity_id(name, email) -%}
    md5(coalesce({{ name }}, '') || chr(31) || coalesce({{ email }}, ''))
{%- endmacro %}
