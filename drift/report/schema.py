"""The JSON Schema (draft 2020-12) of the report document, shipped beside this module as schema.json.

Consumers of `drift report --format json` can validate against the same file;
`validate_report` is what drift's own tests use to hold the document and the
schema together.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

SCHEMA_RESOURCE = "schema.json"


@cache
def report_schema() -> dict[str, Any]:
    """The shipped schema of the report document, parsed."""
    text = resources.files("drift.report").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Draft202012Validator:
    schema = report_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def report_errors(document: object) -> list[ValidationError]:
    """Every way the document breaks the schema, in document order; empty when it is valid."""
    return sorted(_validator().iter_errors(document), key=lambda error: list(map(str, error.absolute_path)))


def validate_report(document: object) -> None:
    """Raise jsonschema's ValidationError (the most relevant one) unless the document is a valid report."""
    errors = report_errors(document)
    if errors:
        raise best_match(errors)
