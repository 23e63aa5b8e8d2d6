"""Reading and writing drift's history. Every function takes the caller's session (its unit of work)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from drift.errors import UsageError
from drift.storage.models import (
    AlertRow,
    BaseImageRow,
    BaselineRow,
    BuildLayerRow,
    BuildRow,
    FindingRow,
    InstallationRow,
    LayerContentRow,
    LayerFileRow,
    LearnedNoiseRow,
    LeaseRow,
    PackageRow,
    PackageSetRow,
    TargetRow,
    utcnow,
)
from drift.values import (
    BaseImage,
    BuilderInfo,
    BuildOutput,
    BuildSummary,
    EntryType,
    FileEntry,
    Finding,
    ImageRecord,
    LayerRecord,
    Package,
    TargetSpec,
    Verdict,
)

# --- this installation ---------------------------------------------------------


def installation_id(session: Session) -> str:
    """The random id of this database, made by its migration: it labels the images drift makes."""
    found = session.scalar(select(InstallationRow.id).order_by(InstallationRow.created_at).limit(1))
    if found is None:  # the row was deleted by hand: make a new identity
        found = uuid.uuid4().hex
        session.add(InstallationRow(id=found))
        session.flush()
    return found


# --- targets -----------------------------------------------------------------


def _spec(row: TargetRow) -> TargetSpec:
    return TargetSpec(
        name=row.name,
        repo=row.repo,
        commit=row.commit,
        dockerfile=row.dockerfile,
        context=row.context,
        build_args=dict(row.build_args),
        stage=row.stage,
        platform=row.platform,
        network=row.network,
        pull=row.pull,
        schedule=row.schedule,
        ignore=tuple(row.ignore),
        timeout_s=row.timeout_s,
        alerts=tuple(row.alert_routes or ()),
    )


def _target_row(session: Session, name: str) -> TargetRow:
    row = session.scalar(select(TargetRow).where(TargetRow.name == name, TargetRow.enabled))
    if row is None:
        raise UsageError(f"unknown target {name!r}; `drift targets` lists the tracked ones")
    return row


def get_target(session: Session, name: str) -> TargetSpec:
    return _spec(_target_row(session, name))


def list_targets(session: Session, names: Sequence[str] = ()) -> list[TargetSpec]:
    """The enabled targets, by name; the named ones only (in that order) when names are given."""
    if names:
        return [get_target(session, name) for name in names]
    rows = session.scalars(select(TargetRow).where(TargetRow.enabled).order_by(TargetRow.name))
    return [_spec(row) for row in rows]


def save_target(session: Session, spec: TargetSpec, *, config_path: str | None = None) -> tuple[bool, bool]:
    """Insert or update a target; returns (created, pin_moved).

    `config_path`: the drift.toml declaring it, or None for a target tracked by hand.
    """
    row = session.scalar(select(TargetRow).where(TargetRow.name == spec.name))
    created = row is None or not row.enabled
    pin_moved = row is not None and row.commit != spec.commit
    if row is None:
        row = TargetRow(name=spec.name)
        session.add(row)
    row.repo = spec.repo
    row.commit = spec.commit
    row.dockerfile = spec.dockerfile
    row.context = spec.context
    row.build_args = dict(spec.build_args)
    row.stage = spec.stage
    row.platform = spec.platform
    row.network = spec.network
    row.pull = spec.pull
    row.schedule = spec.schedule
    row.ignore = list(spec.ignore)
    row.timeout_s = spec.timeout_s
    row.alert_routes = list(spec.alerts) or None
    row.config_path = config_path
    row.enabled = True
    row.updated_at = utcnow()
    session.flush()
    return created, pin_moved


def disable_targets_not_in(session: Session, config_path: str, names: Iterable[str]) -> list[str]:
    """Disable the targets a drift.toml declared before but no longer does (their history stays)."""
    keep = set(names)
    rows = session.scalars(
        select(TargetRow).where(TargetRow.config_path == config_path, TargetRow.enabled, TargetRow.name.not_in(keep))
    ).all()
    for row in rows:
        row.enabled = False
        row.updated_at = utcnow()
    return [row.name for row in rows]


def remove_target(session: Session, name: str) -> None:
    """Stop tracking a target; its history goes with it."""
    session.delete(_target_row(session, name))


# --- builds ------------------------------------------------------------------


def start_build(
    session: Session,
    target: str,
    fingerprint: str,
    commit: str,
    *,
    slot: datetime | None = None,
    owner: str | None = None,
    engine_host: str | None = None,
) -> int:
    now = utcnow()
    row = BuildRow(
        target_id=_target_row(session, target).id,
        fingerprint=fingerprint,
        commit=commit,
        status="running",
        slot=slot,
        owner=owner,
        started_at=now,
        heartbeat_at=now,
        engine_host=engine_host,
    )
    session.add(row)
    session.flush()
    return row.id


def finish_build(
    session: Session,
    build_id: int,
    *,
    status: str,
    verdict: Verdict,
    builder: BuilderInfo | None = None,
    image: ImageRecord | None = None,
    compared_to: int | None = None,
    findings: Iterable[Finding] = (),
    error: str | None = None,
    failed_step: str | None = None,
    log_tail: str | None = None,
    base_images: Sequence[BaseImage] = (),
    dockerfile_text: str | None = None,
    risks: Sequence[dict[str, Any]] | None = None,
) -> None:
    """Record everything a finished build produced, in the caller's unit of work."""
    row = session.get_one(BuildRow, build_id)
    row.status = status
    row.verdict = verdict.value
    row.finished_at = utcnow()
    row.compared_to_id = compared_to
    row.error = error
    row.failed_step = failed_step
    row.log_tail = log_tail
    row.dockerfile_text = dockerfile_text
    row.risks = list(risks) if risks is not None else None
    for base in base_images:
        session.add(
            BaseImageRow(
                build_id=build_id,
                stage=base.stage,
                reference=base.reference,
                image_id=base.image_id,
                repo_digest=base.repo_digest or None,
                layer_count=base.layer_count,
                final=base.final,
            )
        )
        if base.final:
            row.base_layer_count = base.layer_count
    if builder is not None:
        row.engine_version = builder.engine_version
        row.api_version = builder.api_version
        row.os_arch = f"{builder.os}/{builder.arch}"
        row.storage_driver = builder.storage_driver
    if image is not None:
        row.image_id = image.image_id
        row.config = dict(image.config)
        row.config_digest = image.config_digest
        _save_layers(session, build_id, image.layers)
        row.package_set_id = _save_packages(session, image.packages)
        row.catalog_warnings = list(image.catalog_warnings) or None
    finding_rows = [
        {
            "build_id": build_id,
            "kind": f.kind,
            "layer": f.layer,
            "instruction": f.instruction,
            "subject": f.subject,
            "change": f.change,
            "before": f.before,
            "after": f.after,
            "cause": f.cause,
            "ignored": f.ignored,
            "new": f.new,
            "ignored_by": f.ignored_by or None,
            "risk": f.risk or None,
            "ecosystem": f.ecosystem or None,
        }
        for f in findings
    ]
    if finding_rows:
        session.execute(insert(FindingRow), finding_rows)
    if verdict is Verdict.BASELINE:
        set_baseline(session, build_id, accepted=False)
    session.flush()


def _save_layers(session: Session, build_id: int, layers: Sequence[LayerRecord]) -> None:
    digests = {layer.normalized_digest for layer in layers}
    found = session.execute(
        select(LayerContentRow.normalized_digest, LayerContentRow.id).where(
            LayerContentRow.normalized_digest.in_(digests)
        )
    )
    known: dict[str, int] = {digest: content_id for digest, content_id in found}
    for layer in layers:
        if layer.normalized_digest in known:
            continue
        content_id = _insert_once(
            session,
            LayerContentRow,
            LayerContentRow.normalized_digest,
            normalized_digest=layer.normalized_digest,
            file_count=len(layer.entries),
            content_size=sum(entry.size for entry in layer.entries),
        )
        if content_id is None:  # another worker stored the same content just now
            known[layer.normalized_digest] = session.scalars(
                select(LayerContentRow.id).where(LayerContentRow.normalized_digest == layer.normalized_digest)
            ).one()
            continue
        known[layer.normalized_digest] = content_id
        if layer.entries:
            session.execute(
                insert(LayerFileRow),
                [
                    {
                        "content_id": content_id,
                        "path": e.path,
                        "type": e.type.value,
                        "mode": e.mode,
                        "uid": e.uid,
                        "gid": e.gid,
                        "size": e.size,
                        "sha256": e.sha256,
                        "link_target": e.link_target,
                    }
                    for e in layer.entries
                ],
            )
    session.execute(
        insert(BuildLayerRow),
        [
            {
                "build_id": build_id,
                "index": layer.index,
                "diff_id": layer.diff_id,
                "size": layer.size,
                "instruction": layer.instruction,
                "content_id": known[layer.normalized_digest],
            }
            for layer in layers
        ],
    )


def _package_set_digest(packages: Sequence[Package]) -> str:
    material = "\n".join(
        "\0".join((p.ecosystem, p.name, p.version, p.arch, p.purl, p.source, str(p.layer))) for p in packages
    )
    return "sha256:" + hashlib.sha256(material.encode("utf-8", "surrogateescape")).hexdigest()


def _save_packages(session: Session, packages: Sequence[Package]) -> int | None:
    """The id of the package set, stored once however many builds share it."""
    if not packages:
        return None
    ordered = sorted(packages, key=lambda p: (p.ecosystem, p.name, p.arch, p.source, p.version))
    digest = _package_set_digest(ordered)
    existing = session.scalar(select(PackageSetRow.id).where(PackageSetRow.digest == digest))
    if existing is not None:
        return existing
    set_id = _insert_once(session, PackageSetRow, PackageSetRow.digest, digest=digest, package_count=len(ordered))
    if set_id is None:  # another worker stored the same package set just now
        return session.scalars(select(PackageSetRow.id).where(PackageSetRow.digest == digest)).one()
    session.execute(
        insert(PackageRow),
        [
            {
                "set_id": set_id,
                "ecosystem": p.ecosystem,
                "name": p.name,
                "version": p.version,
                "arch": p.arch,
                "purl": p.purl,
                "source": p.source,
                "layer": p.layer,
            }
            for p in ordered
        ],
    )
    return set_id


def _insert_once(session: Session, model: type[Any], key: Any, **values: Any) -> int | None:
    """Insert a content-addressed row unless its key is stored already; the new id, or None when it was.

    One statement (INSERT ... ON CONFLICT DO NOTHING) on SQLite and PostgreSQL
    alike, so two workers storing the same content at once never collide: the
    second waits for the first's transaction and then inserts nothing.
    """
    dialect = session.get_bind().dialect.name
    statement: Any = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(model).values(**values)
    statement = statement.on_conflict_do_nothing(index_elements=[key]).returning(model.id)
    inserted: int | None = session.scalar(statement)
    return inserted


def load_packages(session: Session, build_id: int) -> tuple[Package, ...]:
    """The package manifest of a succeeded build."""
    build = session.get_one(BuildRow, build_id)
    if build.package_set_id is None:
        return ()
    rows = session.scalars(select(PackageRow).where(PackageRow.set_id == build.package_set_id).order_by(PackageRow.id))
    return tuple(
        Package(
            ecosystem=r.ecosystem,
            name=r.name,
            version=r.version,
            arch=r.arch,
            purl=r.purl,
            source=r.source,
            layer=r.layer,
        )
        for r in rows
    )


def catalog_warnings(session: Session, build_id: int) -> list[str]:
    return list(session.get_one(BuildRow, build_id).catalog_warnings or [])


def load_image(session: Session, build_id: int) -> ImageRecord:
    """The image a succeeded build recorded, manifests included."""
    build = session.get_one(BuildRow, build_id)
    layers = []
    for layer in build.layers:
        files = session.scalars(
            select(LayerFileRow).where(LayerFileRow.content_id == layer.content_id).order_by(LayerFileRow.id)
        )
        entries = tuple(
            FileEntry(
                path=f.path,
                type=EntryType(f.type),
                mode=f.mode,
                uid=f.uid,
                gid=f.gid,
                size=f.size,
                sha256=f.sha256,
                link_target=f.link_target,
            )
            for f in files
        )
        layers.append(
            LayerRecord(
                index=layer.index,
                diff_id=layer.diff_id,
                size=layer.size,
                instruction=layer.instruction,
                normalized_digest=layer.content.normalized_digest,
                entries=entries,
            )
        )
    return ImageRecord(
        image_id=build.image_id or "",
        layers=tuple(layers),
        config=dict(build.config or {}),
        config_digest=build.config_digest or "",
        packages=load_packages(session, build_id),
        catalog_warnings=tuple(build.catalog_warnings or ()),
    )


def _builder(row: BuildRow) -> BuilderInfo | None:
    if row.engine_version is None:
        return None
    os_name, _, arch = (row.os_arch or "/").partition("/")
    return BuilderInfo(
        engine_version=row.engine_version,
        api_version=row.api_version or "",
        os=os_name,
        arch=arch,
        storage_driver=row.storage_driver or "",
    )


def base_images(session: Session, build_id: int) -> tuple[BaseImage, ...]:
    build = session.get_one(BuildRow, build_id)
    return tuple(
        BaseImage(
            stage=b.stage,
            reference=b.reference,
            image_id=b.image_id or "",
            repo_digest=b.repo_digest or "",
            layer_count=b.layer_count,
            final=b.final,
        )
        for b in build.base_images
    )


def load_output(session: Session, build_id: int) -> BuildOutput:
    """What a succeeded build produced: its image with manifests, its base images and builder."""
    build = session.get_one(BuildRow, build_id)
    return BuildOutput(
        image=load_image(session, build_id),
        base_images=base_images(session, build_id),
        base_layer_count=build.base_layer_count or 0,
        builder=_builder(build),
    )


def build_dockerfile(session: Session, build_id: int) -> tuple[str | None, list[dict[str, Any]]]:
    """The Dockerfile text a build was made from, and the risks found in it."""
    build = session.get_one(BuildRow, build_id)
    return build.dockerfile_text, list(build.risks or [])


# --- learned noise -------------------------------------------------------------


def learn_noise(session: Session, build_a: int, build_b: int, paths: Iterable[str]) -> list[str]:
    """Remember paths that differed between two back-to-back builds; returns the newly learned ones."""
    first = session.get_one(BuildRow, build_a)
    known = {
        path
        for (path,) in session.execute(
            select(LearnedNoiseRow.path).where(
                LearnedNoiseRow.target_id == first.target_id, LearnedNoiseRow.fingerprint == first.fingerprint
            )
        )
    }
    new = sorted(set(paths) - known)
    for path in new:
        session.add(
            LearnedNoiseRow(
                target_id=first.target_id,
                fingerprint=first.fingerprint,
                path=path,
                first_build_id=build_a,
                second_build_id=build_b,
            )
        )
    session.flush()
    return new


def learned_noise(session: Session, target: str, fingerprint: str) -> list[tuple[str, int, int]]:
    """(path, first build, second build) of every path learned as noise for this source."""
    target_id = _target_row(session, target).id
    rows = session.execute(
        select(LearnedNoiseRow.path, LearnedNoiseRow.first_build_id, LearnedNoiseRow.second_build_id)
        .where(LearnedNoiseRow.target_id == target_id, LearnedNoiseRow.fingerprint == fingerprint)
        .order_by(LearnedNoiseRow.path)
    )
    return [(path, a, b) for path, a, b in rows]


def layer_summaries(session: Session, build_id: int) -> list[dict[str, Any]]:
    """Index, diff_id, size, instruction and normalized digest of each layer of a build."""
    build = session.get_one(BuildRow, build_id)
    return [
        {
            "index": layer.index,
            "diff_id": layer.diff_id,
            "size": layer.size,
            "instruction": layer.instruction,
            "normalized_digest": layer.content.normalized_digest,
            "files": layer.content.file_count,
        }
        for layer in build.layers
    ]


# --- baselines ---------------------------------------------------------------


def baseline_build_id(session: Session, target: str, fingerprint: str) -> int | None:
    target_id = _target_row(session, target).id
    return session.scalar(
        select(BaselineRow.build_id).where(BaselineRow.target_id == target_id, BaselineRow.fingerprint == fingerprint)
    )


def set_baseline(session: Session, build_id: int, *, accepted: bool) -> None:
    build = session.get_one(BuildRow, build_id)
    row = session.scalar(
        select(BaselineRow).where(
            BaselineRow.target_id == build.target_id, BaselineRow.fingerprint == build.fingerprint
        )
    )
    if row is None:
        row = BaselineRow(target_id=build.target_id, fingerprint=build.fingerprint)
        session.add(row)
    row.build_id = build_id
    row.accepted = accepted
    row.set_at = utcnow()
    session.flush()


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


# --- reading history -----------------------------------------------------------


def _summary(session: Session, row: BuildRow) -> BuildSummary:
    baseline = session.scalar(
        select(BaselineRow).where(BaselineRow.target_id == row.target_id, BaselineRow.fingerprint == row.fingerprint)
    )
    builder = _builder(row)
    findings = tuple(
        Finding(
            kind=f.kind,
            layer=f.layer,
            instruction=f.instruction,
            subject=f.subject,
            change=f.change,
            before=f.before,
            after=f.after,
            cause=f.cause,
            ignored=f.ignored,
            new=f.new,
            ignored_by=f.ignored_by or "",
            risk=f.risk or "",
            ecosystem=f.ecosystem or "",
        )
        for f in row.findings
    )
    is_baseline = baseline is not None and baseline.build_id == row.id
    return BuildSummary(
        id=row.id,
        target=row.target.name,
        fingerprint=row.fingerprint,
        commit=row.commit,
        status=row.status,
        verdict=Verdict(row.verdict) if row.verdict else None,
        started_at=row.started_at,
        finished_at=row.finished_at,
        image_id=row.image_id,
        builder=builder,
        compared_to=row.compared_to_id,
        error=row.error,
        failed_step=row.failed_step,
        log_tail=row.log_tail,
        findings=findings,
        is_baseline=is_baseline,
        accepted=is_baseline and baseline is not None and baseline.accepted,
        base_images=base_images(session, row.id),
        engine_host=row.engine_host,
    )


def get_build(session: Session, build_id: int) -> BuildSummary:
    row = session.get(BuildRow, build_id)
    if row is None:
        raise UsageError(f"no build {build_id}; `drift history NAME` lists a target's builds")
    return _summary(session, row)


def history(
    session: Session, target: str, *, since: datetime | None = None, limit: int | None = None
) -> list[BuildSummary]:
    """A target's builds, newest first."""
    query = select(BuildRow).where(BuildRow.target_id == _target_row(session, target).id)
    if since is not None:
        query = query.where(BuildRow.started_at >= since)
    query = query.order_by(BuildRow.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [_summary(session, row) for row in session.scalars(query)]


def latest_finished_build(session: Session, target: str) -> BuildSummary | None:
    builds = session.scalars(
        select(BuildRow)
        .where(BuildRow.target_id == _target_row(session, target).id, BuildRow.verdict.is_not(None))
        .order_by(BuildRow.id.desc())
        .limit(1)
    ).all()
    return _summary(session, builds[0]) if builds else None


def latest_succeeded_build_id(session: Session, target: str) -> int | None:
    target_row = _target_row(session, target)
    return session.scalar(
        select(BuildRow.id)
        .where(
            BuildRow.target_id == target_row.id,
            BuildRow.status == "succeeded",
            BuildRow.commit == target_row.commit,
        )
        .order_by(BuildRow.id.desc())
        .limit(1)
    )


def count_builds(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(BuildRow)) or 0


def delete_build(session: Session, build_id: int) -> None:
    session.execute(delete(BuildRow).where(BuildRow.id == build_id))


# --- leases, slots and crash recovery -------------------------------------------


def claim_lease(session: Session, target: str, owner: str, ttl: timedelta) -> bool:
    """Take the target's lease for `owner` unless another live holder has it. One statement, atomic on
    SQLite and PostgreSQL alike: insert, or take over a row whose lease has expired."""
    target_id = _target_row(session, target).id
    now = utcnow()
    dialect = session.get_bind().dialect.name
    values = {"target_id": target_id, "owner": owner, "expires_at": now + ttl}
    statement: Any = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(LeaseRow).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[LeaseRow.target_id],
        set_={"owner": owner, "expires_at": now + ttl},
        where=(LeaseRow.expires_at < now) | (LeaseRow.owner == owner),
    )
    session.execute(statement)
    holder = session.scalar(select(LeaseRow.owner).where(LeaseRow.target_id == target_id))
    return holder == owner


def lease_holder(session: Session, target: str) -> str | None:
    target_id = _target_row(session, target).id
    return session.scalar(select(LeaseRow.owner).where(LeaseRow.target_id == target_id))


def renew_lease(session: Session, target: str, owner: str, ttl: timedelta, build_id: int | None) -> bool:
    """Extend `owner`'s lease; False when `owner` no longer holds it (it expired and another took it)."""
    target_id = _target_row(session, target).id
    now = utcnow()
    renewed = session.execute(
        update(LeaseRow).where(LeaseRow.target_id == target_id, LeaseRow.owner == owner).values(expires_at=now + ttl)
    )
    if build_id is not None:
        session.execute(update(BuildRow).where(BuildRow.id == build_id).values(heartbeat_at=now))
    return bool(renewed.rowcount)  # type: ignore[attr-defined]


def set_build_error(session: Session, build_id: int, error: str) -> None:
    session.execute(update(BuildRow).where(BuildRow.id == build_id).values(error=error))


def release_lease(session: Session, target: str, owner: str) -> None:
    target_id = _target_row(session, target).id
    session.execute(delete(LeaseRow).where(LeaseRow.target_id == target_id, LeaseRow.owner == owner))


def built_for_slot(session: Session, target: str, slot: datetime) -> bool:
    """Whether the slot already has a build that ran (running, or finished with a verdict other than error)."""
    target_id = _target_row(session, target).id
    found = session.scalar(
        select(func.count())
        .select_from(BuildRow)
        .where(
            BuildRow.target_id == target_id,
            BuildRow.slot == slot,
            (BuildRow.status == "running") | (BuildRow.verdict.is_not(None) & (BuildRow.verdict != "error")),
        )
    )
    return bool(found)


def add_engine_objects(session: Session, build_id: int, objects: Sequence[str]) -> None:
    row = session.get_one(BuildRow, build_id)
    row.engine_objects = [*(row.engine_objects or []), *objects]


def engine_objects(session: Session, build_id: int) -> list[str]:
    return list(session.get_one(BuildRow, build_id).engine_objects or [])


def running_builds(
    session: Session,
) -> list[tuple[int, str, str | None, datetime | None, list[str], str | None]]:
    """(build id, target, owner, last heartbeat, engine objects, engine host) of every build recorded as running."""
    rows = session.execute(
        select(
            BuildRow.id,
            TargetRow.name,
            BuildRow.owner,
            BuildRow.heartbeat_at,
            BuildRow.engine_objects,
            BuildRow.engine_host,
        )
        .join(TargetRow, TargetRow.id == BuildRow.target_id)
        .where(BuildRow.status == "running")
        .order_by(BuildRow.id)
    )
    return [(i, name, owner, beat, list(objects or []), host) for i, name, owner, beat, objects, host in rows]


def running_builds_on(session: Session, host: str | None, *, exclude_owner: str) -> int:
    """How many builds other processes are running on an engine right now."""
    query = select(func.count()).select_from(BuildRow).where(BuildRow.status == "running")
    query = query.where(BuildRow.engine_host == host) if host else query.where(BuildRow.engine_host.is_(None))
    return session.scalar(query.where((BuildRow.owner != exclude_owner) | BuildRow.owner.is_(None))) or 0


def mark_interrupted(session: Session, build_id: int, reason: str) -> None:
    row = session.get_one(BuildRow, build_id)
    if row.status != "running":
        return
    row.status = "interrupted"
    row.verdict = Verdict.ERROR.value
    row.error = reason
    row.finished_at = utcnow()
    session.execute(delete(LeaseRow).where(LeaseRow.target_id == row.target_id, LeaseRow.owner == row.owner))


def last_build_started(session: Session, target: str) -> datetime | None:
    target_id = _target_row(session, target).id
    return session.scalar(select(func.max(BuildRow.started_at)).where(BuildRow.target_id == target_id))


# --- garbage collection ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GarbageCollected:
    builds: int
    layer_contents: int
    package_sets: int


def _verdict_changes(session: Session) -> set[int]:
    """Builds that carry a verdict change: every baseline, and each build whose verdict differs from the
    previous finished build of its target and source (first drifted, first reproducible again...)."""
    keep = set(session.scalars(select(BaselineRow.build_id)))
    rows = session.execute(
        select(BuildRow.id, BuildRow.target_id, BuildRow.fingerprint, BuildRow.verdict)
        .where(BuildRow.verdict.is_not(None))
        .order_by(BuildRow.target_id, BuildRow.fingerprint, BuildRow.id)
    )
    previous: dict[tuple[int, str], str | None] = {}
    for build_id, target_id, fingerprint, verdict in rows:
        key = (target_id, fingerprint)
        if key not in previous or previous[key] != verdict:
            keep.add(build_id)
        previous[key] = verdict
    return keep


def collect_garbage(session: Session, older_than: datetime) -> GarbageCollected:
    """Delete finished builds started before `older_than`, except those that carry a verdict change and the
    latest build of each target; then the layer contents and package sets no build refers to any more."""
    keep = _verdict_changes(session)
    latest = set(session.scalars(select(func.max(BuildRow.id)).group_by(BuildRow.target_id)))
    # A build another build was judged against is evidence for that verdict: keep it too.
    compared = {i for i in session.scalars(select(BuildRow.compared_to_id).where(BuildRow.compared_to_id.is_not(None)))}
    candidates = session.scalars(
        select(BuildRow.id).where(BuildRow.started_at < older_than, BuildRow.status != "running")
    ).all()
    doomed = [i for i in candidates if i not in keep and i not in latest and i not in compared]
    for chunk_start in range(0, len(doomed), 500):
        chunk = doomed[chunk_start : chunk_start + 500]
        session.execute(delete(FindingRow).where(FindingRow.build_id.in_(chunk)))
        session.execute(delete(BuildLayerRow).where(BuildLayerRow.build_id.in_(chunk)))
        session.execute(delete(BaseImageRow).where(BaseImageRow.build_id.in_(chunk)))
        session.execute(delete(BuildRow).where(BuildRow.id.in_(chunk)))
    used_contents = select(BuildLayerRow.content_id)
    orphan_contents = session.scalars(select(LayerContentRow.id).where(LayerContentRow.id.not_in(used_contents))).all()
    if orphan_contents:
        session.execute(delete(LayerFileRow).where(LayerFileRow.content_id.in_(orphan_contents)))
        session.execute(delete(LayerContentRow).where(LayerContentRow.id.in_(orphan_contents)))
    used_sets = select(BuildRow.package_set_id).where(BuildRow.package_set_id.is_not(None))
    orphan_sets = session.scalars(select(PackageSetRow.id).where(PackageSetRow.id.not_in(used_sets))).all()
    if orphan_sets:
        session.execute(delete(PackageRow).where(PackageRow.set_id.in_(orphan_sets)))
        session.execute(delete(PackageSetRow).where(PackageSetRow.id.in_(orphan_sets)))
    return GarbageCollected(len(doomed), len(orphan_contents), len(orphan_sets))


# --- alerts ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingAlert:
    id: int
    build_id: int
    target: str
    event: str
    route: str
    title: str
    body: str
    attempts: int
    status: str
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


def previous_verdict(session: Session, build_id: int) -> Verdict | None:
    """The verdict of the build before this one of the same target and source, skipping checks that could not run."""
    build = session.get_one(BuildRow, build_id)
    verdict = session.scalar(
        select(BuildRow.verdict)
        .where(
            BuildRow.target_id == build.target_id,
            BuildRow.fingerprint == build.fingerprint,
            BuildRow.id < build_id,
            BuildRow.verdict.is_not(None),
            BuildRow.verdict != Verdict.ERROR.value,
        )
        .order_by(BuildRow.id.desc())
        .limit(1)
    )
    return Verdict(verdict) if verdict else None


def alert_routes(session: Session, target: str) -> list[str]:
    return list(_target_row(session, target).alert_routes or [])


def enqueue_alert(session: Session, build_id: int, event: str, route: str, title: str, body: str) -> bool:
    """Put an alert in the outbox once: a second call for the same build, event and route does nothing."""
    build = session.get_one(BuildRow, build_id)
    now = utcnow()
    dialect = session.get_bind().dialect.name
    statement: Any = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(AlertRow).values(
        build_id=build_id,
        target_id=build.target_id,
        event=event,
        route=route,
        title=title,
        body=body,
        status="pending",
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    statement = statement.on_conflict_do_nothing(
        index_elements=[AlertRow.build_id, AlertRow.event, AlertRow.route]
    ).returning(AlertRow.id)
    return session.scalar(statement) is not None


def _pending(row: AlertRow, target: str) -> PendingAlert:
    return PendingAlert(
        id=row.id,
        build_id=row.build_id,
        target=target,
        event=row.event,
        route=row.route,
        title=row.title,
        body=row.body,
        attempts=row.attempts,
        status=row.status,
        created_at=row.created_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
    )


def alerts(session: Session, *, pending_only: bool = False, due_at: datetime | None = None) -> list[PendingAlert]:
    query = select(AlertRow, TargetRow.name).join(TargetRow, TargetRow.id == AlertRow.target_id)
    if pending_only:
        query = query.where(AlertRow.status == "pending")
    if due_at is not None:
        query = query.where(AlertRow.next_attempt_at <= due_at)
    return [_pending(row, name) for row, name in session.execute(query.order_by(AlertRow.id))]


def claim_alert(session: Session, alert_id: int, owner: str) -> bool:
    """Mark an alert as being sent by `owner`, atomically, so two processes never both send it."""
    result = session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id, AlertRow.status == "pending")
        .values(status="sending", claimed_by=owner, claimed_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def alert_claims(session: Session) -> list[tuple[int, str | None, datetime | None]]:
    """(alert id, claimed by, claimed at) of every alert some process was sending."""
    rows = session.execute(
        select(AlertRow.id, AlertRow.claimed_by, AlertRow.claimed_at).where(AlertRow.status == "sending")
    )
    return [(i, owner, at) for i, owner, at in rows]


def release_alert_claim(session: Session, alert_id: int, claimed_by: str | None) -> bool:
    """Put an alert whose sender died back in the outbox; False if its claim changed meanwhile."""
    owner_matches = AlertRow.claimed_by.is_(None) if claimed_by is None else AlertRow.claimed_by == claimed_by
    result = session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id, AlertRow.status == "sending", owner_matches)
        .values(status="pending", claimed_by=None, claimed_at=None, next_attempt_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def alert_sent(session: Session, alert_id: int) -> None:
    session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id)
        .values(status="sent", sent_at=utcnow(), attempts=AlertRow.attempts + 1, last_error=None)
    )


def alert_failed(session: Session, alert_id: int, error: str, retry_after: timedelta) -> None:
    session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id)
        .values(
            status="pending",
            attempts=AlertRow.attempts + 1,
            last_error=error,
            next_attempt_at=utcnow() + retry_after,
        )
    )
