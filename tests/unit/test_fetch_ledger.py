"""The fetch ledger without Docker: comparing two ledgers, the verdict and order of fetch findings, where the
proxy listens, matching a step to its Dockerfile instruction, and storing ledgers once per distinct set."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text
from support.fake_engine import FakeEngine, saved_image

from drift.check import BuildContext, SilentProgress, check_target
from drift.compare.fetches import compare_fetches, order_findings
from drift.compare.verdict import judge
from drift.dockerfile import find_risks, parse_dockerfile
from drift.ledger.build import PROXY_ARGS, BuildLedger, LedgerOff, listen_host, upstream_proxy
from drift.ledger.fetch import Fetch
from drift.ledger.record import match_instruction, record_fetches
from drift.source.git import RepositoryCache
from drift.storage import builds, fetches, history, targets
from drift.storage.database import Database
from drift.storage.garbage import collect_garbage
from drift.tracking import track
from drift.values import Finding, RecordedFetch, TargetSpec, Verdict

OLD = "a1" * 32
NEW = "b2" * 32
URL = "http://downloads.example/tool/latest.tar.gz"
RUN = 'RUN wget -q -O /opt/tool.tgz "$URL"'


def fetched(
    url: str = URL, sha256: str = OLD, size: int = 1234, method: str = "GET", *, layer: int | None = 1
) -> RecordedFetch:
    host = url.split("//")[-1].split("/")[0].split(":")[0]
    return RecordedFetch(method, url, host, 200, size, sha256, instruction=RUN, layer=layer, risk="DRIFT302")


# --- comparing two ledgers --------------------------------------------------------------------------------------


def test_same_url_another_body_is_modified_with_both_hashes_and_sizes() -> None:
    [finding] = compare_fetches([fetched()], [fetched(sha256=NEW, size=1300)])
    assert (finding.kind, finding.subject, finding.change, finding.cause) == ("fetch", URL, "modified", "network-fetch")
    assert finding.before == f"sha256:{OLD} (1234 bytes)"
    assert finding.after == f"sha256:{NEW} (1300 bytes)"
    assert (finding.layer, finding.instruction, finding.risk) == (1, RUN, "DRIFT302")


def test_new_and_gone_urls_and_hosts_are_added_and_removed() -> None:
    old_deb = "http://apt.example/pool/hello_1.0_all.deb"
    new_deb = "http://apt.example/pool/hello_1.1_all.deb"
    baseline = [fetched(old_deb), fetched("mirror.example:443", "", 5000, "CONNECT"), fetched()]
    current = [fetched(new_deb, NEW), fetched("cdn.example:443", "", 4800, "CONNECT"), fetched()]
    changes = {(f.subject, f.change) for f in compare_fetches(baseline, current)}
    assert changes == {
        (old_deb, "removed"),
        (new_deb, "added"),
        ("mirror.example:443", "removed"),
        ("cdn.example:443", "added"),
    }


def test_an_unchanged_ledger_and_a_tunnel_of_another_size_give_no_finding() -> None:
    tunnel = fetched("mirror.example:443", "", 5000, "CONNECT")
    assert compare_fetches([fetched(), tunnel], [fetched(), replace(tunnel, bytes=5100)]) == []


def test_a_failed_fetch_is_said_as_such() -> None:
    failed = replace(fetched(sha256=""), status=None, error="server: cannot connect to downloads.example:80")
    [finding] = compare_fetches([fetched()], [failed])
    assert finding.change == "modified"
    assert finding.after == "no complete body (server: cannot connect to downloads.example:80)"


def test_fetch_findings_never_decide_the_verdict_and_lead_only_when_the_output_drifted() -> None:
    fetch = compare_fetches([fetched()], [fetched(sha256=NEW)])
    assert judge(fetch) is Verdict.REPRODUCIBLE
    file = Finding("file", 1, RUN, "/opt/tool.tgz", "modified", cause="network-fetch")
    assert judge([file, *fetch]) is Verdict.DRIFTED
    assert [f.kind for f in order_findings([file, *fetch], Verdict.DRIFTED)] == ["fetch", "file"]
    builder = Finding("builder", None, "", "engine version", "modified", "20.10", "24.0", "builder")
    assert [f.kind for f in order_findings([*fetch, builder], Verdict.REPRODUCIBLE)] == ["builder", "fetch"]


# --- where the proxy listens, and what the build gets -----------------------------------------------------------


def test_the_proxy_listens_where_the_build_reaches_it() -> None:
    assert listen_host("unix:///var/run/docker.sock", "host", lambda: None) == "127.0.0.1"
    assert listen_host("unix:///var/run/docker.sock", None, lambda: "172.17.0.1") == "172.17.0.1"
    with pytest.raises(LedgerOff, match="not on this machine"):
        listen_host("tcp://builder-1:2376", "host", lambda: "172.17.0.1")
    with pytest.raises(LedgerOff, match="no network"):
        listen_host("unix:///var/run/docker.sock", "none", lambda: None)
    with pytest.raises(LedgerOff, match="no gateway"):
        listen_host("unix:///var/run/docker.sock", "default", lambda: None)


def test_a_target_proxy_becomes_the_upstream_and_is_replaced_for_the_build() -> None:
    own = {"HTTP_PROXY": "http://proxy.corp:3128", "OTHER": "1"}
    assert upstream_proxy(own) == "http://proxy.corp:3128"
    assert upstream_proxy({"OTHER": "1"}) is None
    ledger = BuildLedger(
        enabled=True, engine_host="unix:///x.sock", network="host", build_args=own, bridge_gateway=lambda: None
    )
    with ledger:
        args = ledger.proxy_args
        assert args is not None and set(args) == set(PROXY_ARGS)
        assert len(set(args.values())) == 1 and next(iter(args.values())).startswith("http://127.0.0.1:")
    assert ledger.state == "on"
    off = BuildLedger(enabled=False, engine_host="unix:///x.sock", network="host", build_args={}, bridge_gateway=str)
    with off:
        assert off.proxy_args is None
    assert off.state == "off"


# --- which instruction, which layer, verified or not ------------------------------------------------------------

DOCKERFILE = """FROM busybox:latest AS fetcher
ARG URL=http://downloads.example/tool/latest.tar.gz
RUN wget -q -O /tool.tgz "$URL"

FROM busybox:latest
ARG URL=http://downloads.example/tool/latest.tar.gz
RUN mkdir -p /opt \\
 && wget -q -O /opt/tool.tgz "$URL"
COPY --from=fetcher /tool.tgz /tool.tgz
"""


def test_a_step_is_matched_as_either_builder_names_it_and_gets_its_layer_and_risk() -> None:
    dockerfile = parse_dockerfile(DOCKERFILE)
    final = dockerfile.stages[1].instructions
    legacy = 'RUN mkdir -p /opt  && wget -q -O /opt/tool.tgz "$URL"'
    buildkit = f'RUN mkdir -p /opt  && wget -q -O /opt/tool.tgz "{URL}"'
    assert match_instruction(legacy, final) is final[1]
    assert match_instruction(buildkit, final) is final[1]
    raw = [
        Fetch("GET", URL, "downloads.example", 200, 10, 0, NEW, legacy),
        Fetch("GET", URL, "downloads.example", 200, 10, 0, NEW, 'RUN wget -q -O /tool.tgz "$URL"'),
        Fetch("CONNECT", "other.example:443", "other.example", 200, 99, 10, "", None),
    ]
    recorded = record_fetches(
        raw, dockerfile, final_stage=1, layer_by_line={final[1].line: 1}, risks=find_risks(dockerfile)
    )
    assert [(f.layer, f.instruction) for f in recorded] == [
        (1, 'RUN mkdir -p /opt && wget -q -O /opt/tool.tgz "$URL"'),
        (None, 'RUN wget -q -O /tool.tgz "$URL"'),  # a builder stage makes no layer of the image
        (None, ""),
    ]
    assert [f.unverified for f in recorded] == [True, True, False]


# --- storing ------------------------------------------------------------------------------------------------------


def test_equal_ledgers_are_stored_once_whatever_order_their_requests_ended_in(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'drift.db'}")
    night = [fetched(), fetched("http://apt.example/Packages.gz", NEW, 99, layer=2)]
    with db.session() as session:
        targets.save_target(session, TargetSpec(name="t", repo="/r", commit="a" * 40))
        ids = []
        for ledger in (night, list(reversed(night)), [], night[:1]):
            build = builds.start_build(session, "t", "fp", "a" * 40)
            builds.finish_build(
                session, build, status="succeeded", verdict=Verdict.REPRODUCIBLE, ledger="on", fetched=ledger
            )
            ids.append(build)
        off = builds.start_build(session, "t", "fp", "a" * 40)
        builds.finish_build(session, off, status="succeeded", verdict=Verdict.REPRODUCIBLE, ledger="off")
    with db.engine.connect() as connection:
        assert connection.execute(text("select count(*) from fetch_sets")).scalar() == 3
        assert connection.execute(text("select count(*) from fetches")).scalar() == 3
        sets = [row[0] for row in connection.execute(text("select fetch_set_id from builds order by id"))]
    assert sets[0] == sets[1] and sets[2] not in (sets[0], None) and sets[4] is None
    with db.session() as session:
        first = history.get_build(session, ids[0])
        assert first.ledger == "on" and sorted(first.fetches, key=lambda f: f.url) == sorted(night, key=lambda f: f.url)
        empty = history.get_build(session, ids[2])
        assert empty.ledger == "on" and empty.fetches == ()
        assert history.get_build(session, off).ledger == "off"
        assert fetches.build_ledger(session, off) == ("off", ())


def test_gc_deletes_the_fetch_sets_no_build_uses(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    db = Database(f"sqlite:///{tmp_path / 'drift.db'}")
    with db.session() as session:
        targets.save_target(session, TargetSpec(name="t", repo="/r", commit="a" * 40))
        # The third build carries no verdict change and is the only one with its ledger.
        nights = [([fetched()], Verdict.BASELINE), ([], Verdict.REPRODUCIBLE)]
        nights += [([fetched(sha256=NEW)], Verdict.REPRODUCIBLE), ([], Verdict.REPRODUCIBLE)]
        for ledger, verdict in nights:
            build = builds.start_build(session, "t", "fp", "a" * 40)
            builds.finish_build(session, build, status="succeeded", verdict=verdict, ledger="on", fetched=ledger)
    with db.session() as session:
        removed = collect_garbage(session, datetime.now(UTC) + timedelta(days=1))
    assert (removed.builds, removed.fetch_sets) == (1, 1)


# --- the check records why the ledger was off ---------------------------------------------------------------------


def _repository(path: Path) -> Path:
    path.mkdir()
    (path / "Dockerfile").write_text("FROM busybox:latest\nRUN make\n")
    identity = ["-c", "user.email=t@example.invalid", "-c", "user.name=t"]
    for args in (["init", "-q", "-b", "main"], [*identity, "add", "-A"], [*identity, "commit", "-q", "-m", "app"]):
        subprocess.run(["git", "-C", str(path), *args], check=True)
    return path


def test_a_remote_engine_builds_without_the_proxy_and_the_build_says_why(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'drift.db'}")
    cache = RepositoryCache(tmp_path / "cache")
    spec, _created, _moved = track(db, cache, name="app", repo=str(_repository(tmp_path / "repo")), commit="main")
    image = saved_image([{"bin/sh": b"busybox"}, {"usr/bin/tool": b"tool 1"}], ("ADD file:base in /", "RUN make"))
    engine = FakeEngine([image], host="tcp://builder-1:2376")
    outcome = check_target(db, cache, engine, spec, SilentProgress(), context=BuildContext(owner="test"))
    assert engine.proxy_args == [{}]
    with db.session() as session:
        build = history.get_build(session, outcome.build_id)
    assert build.ledger == (
        "off: the engine at tcp://builder-1:2376 is not on this machine, so its builds cannot reach drift's proxy"
    )


def test_drift_toml_turns_the_ledger_off_per_target_or_by_default(tmp_path: Path) -> None:
    from drift.config import load_config
    from drift.errors import UsageError

    config = tmp_path / "drift.toml"
    config.write_text(
        "[defaults]\nledger = false\n\n"
        '[[target]]\nname = "a"\nrepo = "."\ncommit = "main"\n\n'
        '[[target]]\nname = "b"\nrepo = "."\ncommit = "main"\nledger = true\n'
    )
    assert [(t.name, t.ledger) for t in load_config(config).targets] == [("a", False), ("b", True)]
    config.write_text('[[target]]\nname = "a"\nrepo = "."\ncommit = "main"\nledger = "no"\n')
    with pytest.raises(UsageError, match="ledger"):
        load_config(config)
