{#- One category per changed file, first match wins: ci, build, test, doc, else src; so the ml feature counts add
    up to files_changed. Arguments are SQL expressions for the lowercased path, its basename and its extension
    (see ml_commit_features). Written with `like` and `in` only: Postgres regexps
    cost 50-300 µs a file here, far too slow for millions of file rows. -#}
{% macro file_category(path, basename, ext) -%}
    case
        when {{ path }} like '.github/%' or {{ path }} like '.circleci/%' or {{ path }} like '.buildkite/%'
            or {{ path }} like '.azure-pipelines/%'
            or {{ basename }} in (
                '.travis.yml', '.gitlab-ci.yml', 'appveyor.yml', '.appveyor.yml', 'azure-pipelines.yml',
                'jenkinsfile', '.pre-commit-config.yaml', 'codecov.yml', '.codecov.yml', 'renovate.json',
                'renovate.json5', '.renovaterc', '.renovaterc.json'
            )
            then 'ci'
        when {{ basename }} in (
                'package.json', 'package-lock.json', 'yarn.lock', 'pnpm-lock.yaml', 'pnpm-workspace.yaml',
                'npm-shrinkwrap.json', '.npmrc', '.yarnrc', '.yarnrc.yml', 'lerna.json', 'nx.json', 'turbo.json',
                'makefile', 'cmakelists.txt', 'dockerfile', 'setup.py', 'setup.cfg', 'pyproject.toml', 'poetry.lock',
                'tox.ini', 'manifest.in', 'build.gn', 'deps', 'pom.xml', 'cargo.toml', 'cargo.lock', 'go.mod',
                'go.sum', '.babelrc', '.npmignore'
            )
            or {{ ext }} in ('gn', 'gni', 'gyp', 'gypi', 'gradle')
            or {{ basename }} like 'tsconfig%.json' or {{ basename }} like 'requirements%.txt'
            or {{ basename }} like 'requirements%.in' or {{ basename }} like 'docker-compose%'
            or {{ basename }} like '.eslintrc%' or {{ basename }} like '.prettierrc%'
            or (split_part({{ basename }}, '.', 2) = 'config' and split_part({{ basename }}, '.', 1) in (
                'rollup', 'webpack', 'vite', 'esbuild', 'babel', 'jest', 'vitest', 'eslint', 'tsup', 'rolldown'))
            then 'build'
        when ('/' || {{ path }}) like any (array[
                '%/test/%', '%/tests/%', '%/\_\_tests\_\_/%', '%/\_\_mocks\_\_/%', '%/spec/%', '%/specs/%',
                '%/e2e/%', '%/fixture/%', '%/fixtures/%', '%/playground/%', '%/testing/%'
            ])
            or {{ basename }} like any (array['%.test.%', '%.spec.%', '%.e2e.%'])
            or ({{ ext }} = 'py' and ({{ basename }} like 'test\_%' or {{ basename }} like '%\_test.py'
                or {{ basename }} = 'conftest.py'))
            or ({{ ext }} in ('go', 'cc', 'js', 'ts') and {{ basename }} like '%\_test.%')
            then 'test'
        when ('/' || {{ path }}) like any (array['%/doc/%', '%/docs/%', '%/documentation/%'])
            or {{ ext }} in ('md', 'mdx', 'markdown', 'rst', 'adoc', 'txt')
            or split_part({{ basename }}, '.', 1) in (
                'readme', 'changelog', 'changes', 'history', 'license', 'licence', 'contributing', 'authors', 'notice')
            then 'doc'
        else 'src'
    end
{%- endmacro %}
