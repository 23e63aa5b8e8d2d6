"""The JSON Schema of a drift.toml (`config_schema.json`, beside this module), and its errors said for people.

The schema states the tables, the keys and their types; each value's
`description` and `examples` are the words and the example an error message
uses, so that a message names the key and says what to write instead.
`drift.config` checks what a schema cannot state and says where in the file
each problem is.
"""

from __future__ import annotations

import difflib
import functools
import json
from datetime import date, datetime, time
from importlib import resources
from typing import Any, NamedTuple, cast

from jsonschema import Draft202012Validator, ValidationError

from drift.toml_lines import KeyPath


class SchemaProblem(NamedTuple):
    """One way a document breaks the schema."""

    where: KeyPath  # the offending key, or the table that lacks one
    message: str  # what is wrong; what to do (without the file and line)
    unknown_key: bool  # a key the schema does not know (a misspelling explains other problems)


@functools.cache
def config_schema() -> dict[str, Any]:
    """The JSON Schema of a drift.toml (as `tomllib` reads it), shipped beside this module."""
    text = resources.files("drift").joinpath("config_schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return schema


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(config_schema())


def schema_problems(document: dict[str, Any]) -> list[SchemaProblem]:
    """Every way the document (as `tomllib` read it) breaks the schema; empty when it keeps to it."""
    return [
        SchemaProblem(*_explain(error, document), unknown_key=error.validator == "additionalProperties")
        for error in _validator().iter_errors(document)
    ]


def _explain(error: ValidationError, document: dict[str, Any]) -> tuple[KeyPath, str]:
    """Where a schema error is and what to say of it, in the words of the schema's descriptions and examples.

    The schema checks with four keywords only (additionalProperties, required,
    type, pattern; tests/unit/test_config_schema.py holds it to them).
    """
    where: KeyPath = tuple(error.absolute_path)
    schema = cast(dict[str, Any], error.schema)  # config_schema.json has no boolean (true/false) schemas
    value: Any = error.instance
    if error.validator == "additionalProperties":
        key = next(key for key in value if key not in schema["properties"])
        return (*where, key), _unknown_key(where, key, value, tuple(schema["properties"]))
    if error.validator == "required":
        key = next(key for key in schema["required"] if key not in value)
        return where, f"{_label(where, value)} has no {key}; add {_advice(key, schema['properties'][key])}"
    key = where[-1]
    what = _kind(value) if error.validator == "type" else "an empty string" if not value.strip() else repr(value)
    if isinstance(key, int):  # an entry of an array
        example = f", e.g. {_examples(schema)}" if "examples" in schema else ""
        return where, f"{where[-2]} entry {key + 1} is {what}; each entry must be {schema['description']}{example}"
    # A key the schema does not name in advance (a build arg) goes by the schema's title.
    name = f"{schema['title']} {key!r}" if list(error.schema_path)[-2] == "additionalProperties" else key
    if error.validator == "pattern" and not value.strip():
        table: Any = document
        for step in where[:-1]:
            table = table[step]
        return where, f"{name} is empty in {_label(where[:-1], table)}; write {_advice(key, schema)}"
    if error.validator == "pattern":
        return where, f"{name} {value!r} is not {schema['description']}; e.g. {_examples(schema, key)}"
    if len(where) == 1 and schema["type"] == "array":  # [target] for [[target]]
        advice = f"write [[{key}]] above the keys of each"
        return where, f"{schema['title']} are declared as [[{key}]] tables (double brackets); {advice}"
    if schema["type"] == "string" and not isinstance(value, list | dict):
        return where, f'{name} must be a string, not {what}; quote it: {key} = "{toml_literal(value)}"'
    expected = "a string" if schema["type"] == "string" else schema["description"]
    return where, f"{name} must be {expected}, not {what}; e.g. {_examples(schema, key)}"


def _unknown_key(where: KeyPath, key: str, table: dict[str, Any], known: tuple[str, ...]) -> str:
    if not where:
        return _unknown_table(key, table[key])
    if where == ("defaults",) and key in config_schema()["$defs"]["target"]["properties"]:
        return f"{key!r} cannot have a default; set it in each [[target]] ([defaults] takes {', '.join(known)})"
    close = difflib.get_close_matches(key, known, n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key {key!r} in {_label(where, table)}; {guess}known keys: {', '.join(known)}"


def _unknown_table(key: str, value: object) -> str:
    spelled = {
        name: f"[[{name}]]" if schema.get("type") == "array" else f"[{name}]"
        for name, schema in config_schema()["properties"].items()
    }
    *others, last = spelled.values()
    holds = f"drift.toml holds only {', '.join(others)} and {last} tables"
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        written = f"[[{key}]]"
    elif isinstance(value, dict):
        written = f"[{key}]"
    else:
        return f"unknown top-level key {key!r}; {holds}"
    close = difflib.get_close_matches(key, spelled, n=1)
    guess = f"did you mean {spelled[close[0]]}? " if close else ""
    return f"unknown table {written}; {guess}{holds}"


def _label(where: KeyPath, table: object) -> str:
    """How a message names the table at `where`: [defaults], [[target]] 'web', [[target]] #2, [[builders]] #1."""
    if len(where) != 2:
        return f"[{where[0]}]" if where else "drift.toml"
    name = table.get("name") if isinstance(table, dict) and where[0] == "target" else None
    return f"[[{where[0]}]] {name!r}" if isinstance(name, str) else f"[[{where[0]}]] #{int(where[1]) + 1}"


def _examples(schema: dict[str, Any], key: str | int | None = None) -> str:
    """The schema's examples as TOML: `key = value or key = value`, or the values alone."""
    written = [_as_toml(example) for example in schema["examples"]]
    return " or ".join(written if key is None else [f"{key} = {example}" for example in written])


def _advice(key: str | int, schema: dict[str, Any]) -> str:
    return f"{_examples(schema, key)} ({schema['description']})"


def _as_toml(value: object) -> str:
    """A value of the schema's examples as it is written in TOML."""
    if isinstance(value, list):
        return f"[{', '.join(map(_as_toml, value))}]"
    if isinstance(value, dict):
        return f"{{ {', '.join(f'{key} = {_as_toml(item)}' for key, item in value.items())} }}"
    return json.dumps(value)


def _kind(value: object) -> str:
    """How TOML would call the type of `value`."""
    kinds: tuple[tuple[type, str], ...] = (
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a float"),
        (str, "a string"),
        (list, "an array"),
        (dict, "a table"),
        (datetime, "a date-time"),
        (date, "a date"),
        (time, "a time"),
    )
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def toml_literal(value: object) -> str:
    """A value as TOML writes it, without a string's quotes (to quote a value that should have been a string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)
