"""`drift report` and `drift history` read with Python's cycle collector paused, and give it back as it was."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from drift.cli.reading import without_cycle_collection


def test_the_collector_is_paused_inside_and_enabled_again_after_even_on_an_error() -> None:
    assert gc.isenabled()
    with without_cycle_collection():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), without_cycle_collection():
        raise RuntimeError("a failed read")
    assert gc.isenabled()


def test_a_collector_someone_else_paused_stays_paused() -> None:
    gc.disable()
    try:
        with without_cycle_collection():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize(("command", "collects"), [(["report"], False), (["history", "t"], False), (["targets"], True)])
def test_the_collector_paused_for_start_up_comes_back_for_all_but_the_short_reads(
    tmp_path: Path, command: list[str], collects: bool
) -> None:
    from typer.testing import CliRunner

    from drift.cli import app

    url = f"sqlite:///{tmp_path / 'drift.db'}"
    gc.disable()  # as drift.__main__.run leaves it for start-up
    try:
        CliRunner().invoke(app, ["--db", url, *command])
        assert gc.isenabled() is collects
    finally:
        gc.enable()
