"""Strict validation of custom resources against their CustomResourceDefinitions' openAPIV3Schema.

Why strict: upstream CRDs set no `additionalProperties: false`, so a misspelt field would pass a plain schema
check and be silently dropped by the API server. `kubectl --validate=strict` rejects it; so does this, by
adding `additionalProperties: false` to every object schema that declares `properties` and does not set
`x-kubernetes-preserve-unknown-fields`. Also a command: `python tests/crd_schema.py CRD_DIR RENDERED.yaml...`
validates every document whose apiVersion group has a CRD in CRD_DIR and exits non-zero on any error.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

__all__ = ["CrdValidator", "strict"]

Doc = dict[str, Any]


def strict(schema: Any) -> Any:
    """A copy of `schema` in which unknown fields are errors, as the API server's strict field validation."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if (isinstance(out.get("properties"), dict) and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


class CrdValidator:
    """Validators for every (apiVersion, kind) the CRD files in a directory define."""

    def __init__(self, crd_dir: Path) -> None:
        self.validators: dict[tuple[str, str], Draft202012Validator] = {}
        for path in sorted(crd_dir.glob("*.yaml")):
            for crd in yaml.safe_load_all(path.read_text()):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
                for version in crd["spec"]["versions"]:
                    schema = strict(version["schema"]["openAPIV3Schema"])
                    self.validators[(f"{group}/{version['name']}", kind)] = Draft202012Validator(schema)
        self.groups = {api.split("/")[0] for api, _ in self.validators}

    def covers(self, doc: Doc) -> bool:
        return str(doc.get("apiVersion", "")).split("/")[0] in self.groups

    def errors(self, doc: Doc) -> list[str]:
        """Schema violations of one document of a covered group (an unknown kind or version is one)."""
        name = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        validator = self.validators.get((doc.get("apiVersion", ""), doc.get("kind", "")))
        if validator is None:
            return [f"{name}: no CRD defines {doc.get('apiVersion')} {doc.get('kind')}"]
        return [f"{name}: {'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]

    def validate_all(self, docs: Iterable[Doc]) -> tuple[int, list[str]]:
        """(number of covered documents, their errors)."""
        covered = [d for d in docs if d and self.covers(d)]
        return len(covered), [e for d in covered for e in self.errors(d)]


def main(argv: list[str]) -> int:
    validator = CrdValidator(Path(argv[0]))
    total, problems = 0, []
    for path in argv[1:]:
        n, errs = validator.validate_all(yaml.safe_load_all(Path(path).read_text()))
        total += n
        problems += [f"{Path(path).name}: {e}" for e in errs]
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"[crd-schema] {total} custom resources validated strictly, {len(problems)} errors", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
