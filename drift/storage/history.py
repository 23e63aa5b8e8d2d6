"""Reading history: recorded builds as the reports and the command line see them, and the builds a new one
is judged against."""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, Text, delete, func, select, type_coerce
from sqlalchemy.orm import Session

from drift.errors import UsageError
from drift.storage import fetches, images, recent, targets
from drift.storage.models import BaselineRow, BuildRow, FindingRow, RecentBuildsRow, TargetRow
from drift.storage.rows import among_ids, builder_of, read_rows, read_rows_among, target_row
from drift.values import BuildSummary, Finding, HistoryEntry, TargetSpec, Verdict

_VERDICTS = {verdict.value: verdict for verdict in Verdict}

# A build's columns as its summary shows them (not its Dockerfile, config or risks, which can be large).
_SUMMARY_COLUMNS = (
    BuildRow.id,
    TargetRow.name,
    BuildRow.fingerprint,
    BuildRow.commit,
    BuildRow.status,
    BuildRow.verdict,
    BuildRow.started_at,
    BuildRow.finished_at,
    BuildRow.image_id,
    BuildRow.engine_version,
    BuildRow.api_version,
    BuildRow.os_arch,
    BuildRow.storage_driver,
    BuildRow.builder,
    BuildRow.compared_to_id,
    BuildRow.error,
    BuildRow.failed_step,
    BuildRow.log_tail,
    BuildRow.engine_host,
    BuildRow.ledger,
    BuildRow.fetch_set_id,
    BuildRow.published,
)


def _summaries(session: Session, rows: Sequence[Row[*tuple[Any, ...]]]) -> list[BuildSummary]:
    """The builds of rows of _SUMMARY_COLUMNS, in their order, each with its findings, base images, baseline
    and fetches: a few queries however many builds there are."""
    ids = [row[0] for row in rows]
    findings = _findings_of(session, ids)
    bases = images.base_images_of(session, ids)
    baselines = _baselines_of(session, ids)
    fetched = fetches.load_fetch_sets(session, {row.fetch_set_id for row in rows if row.fetch_set_id is not None})
    published = _published_of(session, [row.compared_to_id for row in rows if row.compared_to_id is not None])
    builders = functools.cache(builder_of)  # the builds of a night were mostly made by one engine
    summaries = []
    for (
        build_id,
        target,
        fingerprint,
        commit,
        status,
        verdict,
        started_at,
        finished_at,
        image_id,
        engine_version,
        api_version,
        os_arch,
        storage_driver,
        builder,
        compared_to,
        error,
        failed_step,
        log_tail,
        engine_host,
        ledger,
        fetch_set_id,
        published_as,
    ) in rows:
        accepted = baselines.get(build_id)
        summaries.append(
            BuildSummary(
                id=build_id,
                target=target,
                fingerprint=fingerprint,
                commit=commit,
                status=status,
                verdict=_VERDICTS[verdict] if verdict else None,
                started_at=started_at,
                finished_at=finished_at,
                image_id=image_id,
                builder=builders(engine_version, api_version, os_arch, storage_driver, builder),
                compared_to=compared_to,
                error=error,
                failed_step=failed_step,
                log_tail=log_tail,
                findings=findings.get(build_id, ()),
                is_baseline=accepted is not None,
                accepted=bool(accepted),
                base_images=bases.get(build_id, ()),
                engine_host=engine_host,
                ledger=ledger,
                fetches=fetched.get(fetch_set_id, ()) if fetch_set_id is not None else (),
                published=published_as,
                compared_to_published=published.get(compared_to) if compared_to is not None else None,
            )
        )
    return summaries


def _summary_query() -> Select[*tuple[Any, ...]]:
    return select(*_SUMMARY_COLUMNS).join(TargetRow, TargetRow.id == BuildRow.target_id)


_FINDINGS = (
    select(
        FindingRow.build_id,
        FindingRow.kind,
        FindingRow.layer,
        FindingRow.instruction,
        FindingRow.subject,
        FindingRow.change,
        FindingRow.before,
        FindingRow.after,
        FindingRow.cause,
        FindingRow.ignored,
        FindingRow.new,
        FindingRow.ignored_by,
        FindingRow.risk,
        FindingRow.ecosystem,
    )
    .where(among_ids(FindingRow.build_id))
    .order_by(FindingRow.build_id, FindingRow.id)
)


def _findings_of(session: Session, build_ids: Sequence[int]) -> dict[int, tuple[Finding, ...]]:
    found: dict[int, list[Finding]] = {}
    # Night after night a target's builds repeat the same findings: one value for each.
    seen: dict[tuple[Any, ...], Finding] = {}
    for build_id, *fields in read_rows_among(session, _FINDINGS, build_ids):
        key = tuple(fields)
        finding = seen.get(key)
        if finding is None:
            kind, layer, instruction, subject, change, before, after, cause, *flags = fields
            ignored, new, ignored_by, risk, ecosystem = flags
            finding = seen[key] = Finding(
                kind=kind,
                layer=layer,
                instruction=instruction,
                subject=subject,
                change=change,
                before=before,
                after=after,
                cause=cause,
                ignored=ignored,
                new=new,
                ignored_by=ignored_by or "",
                risk=risk or "",
                ecosystem=ecosystem or "",
            )
        found.setdefault(build_id, []).append(finding)
    return {build_id: tuple(items) for build_id, items in found.items()}


def _published_of(session: Session, build_ids: Sequence[int]) -> dict[int, str]:
    """Which of the builds are published images as pulled ("REF@sha256:..."), by build."""
    query = select(BuildRow.id, BuildRow.published).where(among_ids(BuildRow.id), BuildRow.published.is_not(None))
    return {build_id: reference for build_id, reference in read_rows_among(session, query, build_ids)}


def _baselines_of(session: Session, build_ids: Sequence[int]) -> dict[int, bool]:
    """Which of the builds are their fingerprint's baseline now, each with whether a person accepted it."""
    query = select(BaselineRow.build_id, BaselineRow.accepted).where(among_ids(BaselineRow.build_id))
    return {build_id: accepted for build_id, accepted in read_rows_among(session, query, build_ids)}


def get_build(session: Session, build_id: int) -> BuildSummary:
    found = _summaries(session, read_rows(session, _summary_query().where(BuildRow.id == build_id)).all())
    if not found:
        raise UsageError(f"no build {build_id}; `drift history NAME` lists a target's builds")
    return found[0]


# A night of the report's timeline: a build's columns without those only `drift show` shows.
_NIGHT_COLUMNS = (
    BuildRow.id,
    TargetRow.name,
    BuildRow.fingerprint,
    BuildRow.commit,
    BuildRow.status,
    BuildRow.verdict,
    BuildRow.started_at,
    BuildRow.finished_at,
    BuildRow.compared_to_id,
    BuildRow.error,
    BuildRow.failed_step,
    BuildRow.log_tail,
    BuildRow.published,
    type_coerce(BuildRow.risks, Text),
)


def night_builds(
    session: Session, build_ids: Collection[int]
) -> tuple[dict[int, BuildSummary], dict[int, list[dict[str, Any]]]]:
    """Many builds at once, by id, as the report's timeline shows each night (verdict, times, commit, baseline,
    error and log, findings), and the static risks found in each one's Dockerfile, read
    together. What only `drift show` shows of a build (its image id, builder, engine, base images and fetch
    ledger) is left empty: a year of nights would read it for nothing."""
    query = select(*_NIGHT_COLUMNS).join(TargetRow, TargetRow.id == BuildRow.target_id).where(among_ids(BuildRow.id))
    rows = read_rows_among(session, query, build_ids)
    ids = [row[0] for row in rows]
    findings = _findings_of(session, ids)
    baselines = _baselines_of(session, ids)
    published = _published_of(session, [row.compared_to_id for row in rows if row.compared_to_id is not None])
    decoded: dict[str, list[dict[str, Any]]] = {}
    nights = {}
    risks = {}
    for (
        build_id,
        target,
        fingerprint,
        commit,
        status,
        verdict,
        started_at,
        finished_at,
        compared_to,
        error,
        failed_step,
        log_tail,
        published_as,
        stored_risks,
    ) in rows:
        risks[build_id] = _risks(stored_risks, decoded)
        accepted = baselines.get(build_id)
        nights[build_id] = BuildSummary(
            id=build_id,
            target=target,
            fingerprint=fingerprint,
            commit=commit,
            status=status,
            verdict=_VERDICTS[verdict] if verdict else None,
            started_at=started_at,
            finished_at=finished_at,
            image_id=None,
            builder=None,
            compared_to=compared_to,
            error=error,
            failed_step=failed_step,
            log_tail=log_tail,
            findings=findings.get(build_id, ()),
            is_baseline=accepted is not None,
            accepted=bool(accepted),
            published=published_as,
            compared_to_published=published.get(compared_to) if compared_to is not None else None,
        )
    return nights, risks


def builds_by_id(session: Session, build_ids: Collection[int]) -> dict[int, BuildSummary]:
    """Many builds at once, by id (ids of no build are left out)."""
    rows = read_rows_among(session, _summary_query().where(among_ids(BuildRow.id)), build_ids)
    return {build.id: build for build in _summaries(session, rows)}


def target_history(
    session: Session, target: str, *, since: datetime | None = None, limit: int | None = None
) -> list[BuildSummary]:
    """A target's builds, newest first."""
    query = _summary_query().where(BuildRow.target_id == target_row(session, target).id)
    if since is not None:
        query = query.where(BuildRow.started_at >= since)
    query = query.order_by(BuildRow.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return _summaries(session, read_rows(session, query).all())


def latest_finished_build(session: Session, target: str) -> BuildSummary | None:
    query = (
        _summary_query()
        .where(BuildRow.target_id == target_row(session, target).id, BuildRow.verdict.is_not(None))
        .order_by(BuildRow.id.desc())
        .limit(1)
    )
    builds = _summaries(session, read_rows(session, query).all())
    return builds[0] if builds else None


def report_overview(
    session: Session, names: Sequence[str], *, since: datetime | None = None, nights: int = recent.RECENT_BUILDS
) -> list[tuple[TargetSpec, BuildSummary | None, list[HistoryEntry]]]:
    """What `drift report` shows of each target (the enabled ones, or the named ones in that order): its spec,
    its latest finished build in full, and its latest `nights` finished builds in brief, newest first, all
    started on or after `since` when given."""
    if nights > recent.RECENT_BUILDS:
        raise ValueError(f"the report keeps the latest {recent.RECENT_BUILDS} builds of each target, not {nights}")
    specs = targets.list_targets(session, names)
    query = select(TargetRow.name, RecentBuildsRow.builds).join(
        RecentBuildsRow, RecentBuildsRow.target_id == TargetRow.id
    )
    query = query.where(TargetRow.name.in_(names)) if names else query.where(TargetRow.enabled)
    stored: dict[str, list[list[Any]]] = {name: builds for name, builds in read_rows(session, query)}
    histories: dict[str, list[HistoryEntry]] = {}
    for spec in specs:
        entries = recent.entries(stored.get(spec.name, []))
        if since is not None:
            entries = [entry for entry in entries if entry.started_at >= since]
        histories[spec.name] = entries[:nights]
    latest = builds_by_id(session, [entries[0].id for entries in histories.values() if entries])
    return [
        (spec, latest[histories[spec.name][0].id] if histories[spec.name] else None, histories[spec.name])
        for spec in specs
    ]


def _risks(stored: Any, decoded: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """A build's risks as stored: JSON text, decoded once for all the builds of one Dockerfile (`decoded`),
    None, or what a driver that decodes JSON itself (psycopg) gave."""
    if isinstance(stored, str):
        if stored not in decoded:
            decoded[stored] = list(json.loads(stored) or [])
        return list(decoded[stored])
    return list(stored or [])


def latest_succeeded_build_id(session: Session, target: str) -> int | None:
    row = target_row(session, target)
    return session.scalar(
        select(BuildRow.id)
        .where(
            BuildRow.target_id == row.id,
            BuildRow.status == "succeeded",
            BuildRow.commit == row.commit,
        )
        .order_by(BuildRow.id.desc())
        .limit(1)
    )


def count_builds(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(BuildRow)) or 0


def delete_build(session: Session, build_id: int) -> None:
    target_id = session.get_one(BuildRow, build_id).target_id
    session.execute(delete(BuildRow).where(BuildRow.id == build_id))
    recent.rewrite(session, [target_id])


def previous_succeeded_build(session: Session, build_id: int) -> int | None:
    """The latest succeeded build of the same target and fingerprint before this one."""
    build = session.get_one(BuildRow, build_id)
    return session.scalar(
        select(BuildRow.id)
        .where(
            BuildRow.target_id == build.target_id,
            BuildRow.fingerprint == build.fingerprint,
            BuildRow.status == "succeeded",
            BuildRow.id < build_id,
        )
        .order_by(BuildRow.id.desc())
        .limit(1)
    )


def finding_keys(session: Session, build_id: int) -> set[tuple[str, int | None, str, str, str]]:
    rows = session.execute(
        select(FindingRow.kind, FindingRow.layer, FindingRow.subject, FindingRow.change, FindingRow.after).where(
            FindingRow.build_id == build_id
        )
    )
    return set(rows)


def build_dockerfile(session: Session, build_id: int) -> tuple[str | None, list[dict[str, Any]]]:
    """The Dockerfile text a build was made from, and the risks found in it."""
    build = session.get_one(BuildRow, build_id)
    return build.dockerfile_text, list(build.risks or [])
