"""config_schema.json: a valid JSON Schema, in step with the values drift.toml reads into and with its messages."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from drift.config import DeclaredBuilder, DeclaredTarget, TargetDefaults, parse_config
from drift.config_schema import config_schema
from drift.errors import UsageError

# The keys whose field in the dataclasses has another name.
FIELD_OF_KEY = {"target": "stage", "timeout": "timeout_s"}


def resolved(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = config_schema()["$defs"][node["$ref"].removeprefix("#/$defs/")]
    return node


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(config_schema())


def test_the_schema_checks_only_with_the_keywords_whose_errors_drift_words() -> None:
    annotations = {"$schema", "$id", "$defs", "$ref", "$comment", "title", "description", "examples"}
    worded = {"type", "required", "additionalProperties", "pattern", "properties", "items"}

    def keywords(node: object) -> set[str]:
        if not isinstance(node, dict):
            return set()
        found = set(node)
        for key, value in node.items():
            if key in ("properties", "$defs"):
                found |= set().union(*map(keywords, value.values()))
            elif key in ("items", "additionalProperties"):
                found |= keywords(value)
        return found

    assert keywords(config_schema()) <= annotations | worded


def test_every_key_says_what_it_is_and_what_to_write() -> None:
    """The messages name a key's `description` and suggest its `examples`: every key has both."""
    tables = {name: resolved(node) for name, node in config_schema()["$defs"].items() if "properties" in node}
    assert set(tables) == {"defaults", "target", "builder"}
    for table_name, table in tables.items():
        assert table["additionalProperties"] is False, table_name
        for key, node in table["properties"].items():
            value = resolved(node)
            assert value["description"] and value["examples"], (table_name, key)
            for inner in ("items", "additionalProperties"):
                if isinstance(value.get(inner), dict):
                    assert value[inner]["examples"], (table_name, key, inner)


def test_the_keys_are_the_fields_of_the_values() -> None:
    schema = config_schema()["$defs"]

    def named(table: str) -> set[str]:
        return {FIELD_OF_KEY.get(key, key) for key in schema[table]["properties"]}

    assert named("target") == {field.name for field in fields(DeclaredTarget)} - {"repo_resolved", "line"}
    assert named("defaults") == {field.name for field in fields(TargetDefaults)}
    assert named("builder") == {field.name for field in fields(DeclaredBuilder)} - {"line"}
    # A default means the same as the target's own key.
    for key, node in schema["defaults"]["properties"].items():
        assert schema["target"]["properties"][key] == node, key


WEB = '[[target]]\nname = "web"\nrepo = "https://git.example.com/web.git"\ncommit = "main"\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            WEB + 'pull = ["always"]\n',
            'drift.toml:5: pull must be a string, not an array; e.g. pull = "missing"',
            id="string-key-given-an-array",
        ),
        pytest.param(
            WEB + "timeout = 99999999\n",
            "drift.toml:5: timeout 99999999 is longer than the 7-day maximum; e.g. 7200",
            id="timeout-above-the-maximum",
        ),
        pytest.param(
            # Both a missing key and an unknown one: the misspelling is what to fix.
            '[[target]]\nname = "web"\nrepo = "r"\ncomit = "main"\n',
            "drift.toml:4: unknown key 'comit' in [[target]] 'web'; did you mean 'commit'? known keys: name, repo,",
            id="unknown-key-before-missing-key",
        ),
    ],
)
def test_messages_worded_from_the_schema(text: str, expected: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_config(text, Path("drift.toml"))
    assert str(caught.value).startswith(expected)
