"""SQLAlchemy 2 typed models: the database schema drift keeps its history in.

Alembic owns the schema (migrations/); a test proves these models and the
migrations agree. Nothing outside drift.storage imports this module.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], datetime | None] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" text: read by the C parser, not SQLAlchemy's regular
        # expression (a report reads a hundred thousand of them).
        def process(value: Any) -> datetime | None:
            if isinstance(value, str):
                moment = datetime.fromisoformat(value)
                return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
            return self.process_result_value(value, dialect)

        return process


class LosslessText(TypeDecorator[str]):
    """Text that may hold what is not Unicode: a file name's bytes that are not UTF-8 (surrogate escapes).

    Valid text is stored as it is. A value with a lone surrogate, which neither
    SQLite nor PostgreSQL can store, is stored as a marker and the hex of its
    bytes; so is a value that starts with the marker. Reading gives back the
    very same string, so paths compare exactly.
    """

    impl = Text
    cache_ok = True
    MARKER = "\x01hex:"

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not value.startswith(self.MARKER):
            try:
                value.encode("utf-8")
                return value
            except UnicodeEncodeError:
                pass
        return self.MARKER + value.encode("utf-8", "surrogatepass").hex()

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or not value.startswith(self.MARKER):
            return value
        return bytes.fromhex(value[len(self.MARKER) :]).decode("utf-8", "surrogatepass")

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], str | None] | None:
        # Text needs no processing of its own on SQLite or PostgreSQL: this alone, without TypeDecorator's
        # layers, for the hundreds of thousands of paths and messages a report can read.
        marker = self.MARKER

        def process(value: str | None) -> str | None:
            if value is None or not value.startswith(marker):
                return value
            return self.process_result_value(value, dialect)

        return process


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON, datetime: UTCDateTime}  # noqa: RUF012


class TargetRow(Base):
    """A tracked build: a repository pinned at a commit plus how to build it."""

    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    repo: Mapped[str] = mapped_column(LosslessText)
    commit: Mapped[str] = mapped_column(String(64))
    dockerfile: Mapped[str] = mapped_column(LosslessText, default="Dockerfile")
    context: Mapped[str] = mapped_column(LosslessText, default=".")
    build_args: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stage: Mapped[str | None] = mapped_column(String(200))
    platform: Mapped[str | None] = mapped_column(String(100))
    network: Mapped[str | None] = mapped_column(String(100))
    pull: Mapped[str] = mapped_column(String(16), default="always")
    # auto | buildkit | legacy. Targets tracked before drift 0.2 were built by the legacy builder and keep
    # it (the server default), so that an upgrade never changes how a stored target is built.
    builder: Mapped[str] = mapped_column(String(16), default="auto", server_default="legacy")
    schedule: Mapped[str] = mapped_column(String(100), default="@daily")
    ignore: Mapped[list[str]] = mapped_column(default=list)
    timeout_s: Mapped[int] = mapped_column(Integer, default=3600, server_default="3600")
    # Record the build's fetches through drift's proxy (the fetch ledger); on unless the target turned it off.
    ledger: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Apprise URLs this target's alerts go to, besides the global routes.
    alert_routes: Mapped[list[str] | None] = mapped_column(JSON)
    # The drift.toml that declares this target, when one does (targets gone from it are disabled).
    config_path: Mapped[str | None] = mapped_column(Text)
    # The published image its builds are judged against (a tag or "@sha256:" reference), or None: its first build.
    published: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    builds: Mapped[list[BuildRow]] = relationship(back_populates="target", passive_deletes=True)


class BuildRow(Base):
    """One attempt to build a target, and its verdict."""

    __tablename__ = "builds"
    __table_args__ = (Index(None, "target_id", "fingerprint", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(80))
    commit: Mapped[str] = mapped_column(String(64))
    # running | succeeded | failed | error | interrupted
    status: Mapped[str] = mapped_column(String(16))
    # The schedule slot this build is for (None for a build asked for by hand).
    slot: Mapped[datetime | None] = mapped_column()
    # The process building it ("host:pid:nonce") and when it last said it was alive.
    owner: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    # Containers and intermediate images the engine made for it so far, to clean up after a crash.
    engine_objects: Mapped[list[str] | None] = mapped_column(JSON)
    verdict: Mapped[str | None] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    image_id: Mapped[str | None] = mapped_column(String(80))
    config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    config_digest: Mapped[str | None] = mapped_column(String(80))
    # Which Docker Engine of the pool built it (its DOCKER_HOST), and its version.
    engine_host: Mapped[str | None] = mapped_column(Text)
    engine_version: Mapped[str | None] = mapped_column(String(100))
    api_version: Mapped[str | None] = mapped_column(String(20))
    os_arch: Mapped[str | None] = mapped_column(String(100))
    storage_driver: Mapped[str | None] = mapped_column(String(100))
    # Which builder ran it: "legacy" or "buildkit" (None: a build of a drift before 0.2, legacy).
    builder: Mapped[str | None] = mapped_column(String(16))
    # The build this one was judged against (None for baseline, failed, error).
    compared_to_id: Mapped[int | None] = mapped_column(ForeignKey("builds.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(LosslessText)
    failed_step: Mapped[str | None] = mapped_column(LosslessText)
    log_tail: Mapped[str | None] = mapped_column(LosslessText)
    # How many of the image's first layers the final stage inherited from its base image.
    base_layer_count: Mapped[int | None] = mapped_column(Integer)
    # The Dockerfile at the pinned commit, and the unpinned inputs found in it.
    dockerfile_text: Mapped[str | None] = mapped_column(LosslessText)
    risks: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # The package manifest of the final filesystem, shared by every build that has the same one.
    package_set_id: Mapped[int | None] = mapped_column(ForeignKey("package_sets.id"), index=True)
    catalog_warnings: Mapped[list[str] | None] = mapped_column(JSON)
    # The fetch ledger: "on", "off" (the target's choice) or "off: <why>"; None before drift had one.
    ledger: Mapped[str | None] = mapped_column(LosslessText)
    # What the build fetched through drift's proxy, shared by every build that fetched the same.
    fetch_set_id: Mapped[int | None] = mapped_column(ForeignKey("fetch_sets.id"), index=True)
    # Not a build: the published image as drift pulled it ("REF@sha256:..."), its target's baseline.
    published: Mapped[str | None] = mapped_column(Text)

    target: Mapped[TargetRow] = relationship(back_populates="builds")
    layers: Mapped[list[BuildLayerRow]] = relationship(
        order_by="BuildLayerRow.index", passive_deletes=True, cascade="all, delete-orphan"
    )
    findings: Mapped[list[FindingRow]] = relationship(
        order_by="FindingRow.id", passive_deletes=True, cascade="all, delete-orphan"
    )
    base_images: Mapped[list[BaseImageRow]] = relationship(
        order_by="BaseImageRow.stage", passive_deletes=True, cascade="all, delete-orphan"
    )


class RecentBuildsRow(Base):
    """A target's latest finished builds in brief, newest first: what `drift report` reads in one query.

    Derived from builds: drift.storage.recent rewrites it whenever a build of the target finishes or goes.
    """

    __tablename__ = "recent_builds"

    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"), primary_key=True)
    # [[build id, verdict, started_at (ISO 8601, UTC), commit], ...]: at most recent.RECENT_BUILDS of them.
    builds: Mapped[list[list[Any]]] = mapped_column(JSON)


class LayerContentRow(Base):
    """One distinct normalized layer content, shared by every build layer that has it."""

    __tablename__ = "layer_contents"

    id: Mapped[int] = mapped_column(primary_key=True)
    normalized_digest: Mapped[str] = mapped_column(String(80), unique=True)
    file_count: Mapped[int] = mapped_column(Integer)
    content_size: Mapped[int] = mapped_column(Integer)
    # Set when the manifest is stored as a delta against another content's (never itself a delta): its
    # layer_files rows are then only the entries that differ from the base's, and the base's entries it
    # lacks (type "gone"). NULL: its layer_files rows are the whole manifest.
    base_id: Mapped[int | None] = mapped_column(ForeignKey("layer_contents.id"), index=True)


class LayerFileRow(Base):
    """One entry of a layer content's file manifest."""

    __tablename__ = "layer_files"
    __table_args__ = (Index(None, "content_id", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    content_id: Mapped[int] = mapped_column(ForeignKey("layer_contents.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(LosslessText)
    type: Mapped[str] = mapped_column(String(10))
    mode: Mapped[int] = mapped_column(Integer)
    uid: Mapped[int] = mapped_column(Integer)
    gid: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    link_target: Mapped[str] = mapped_column(LosslessText)
    # Hex sha256 of a volatile file's content with its volatile field blanked (drift.image.volatile), else NULL.
    normalized_sha256: Mapped[str | None] = mapped_column(String(64))
    # Extended attributes ("name=sha256;...", "" for none) and "major:minor" of a device ("" for any other
    # entry). NULL: not recorded, the manifest was stored before revision 0009; comparisons skip them then.
    xattrs: Mapped[str | None] = mapped_column(Text)
    device: Mapped[str | None] = mapped_column(String(32))


class BuildLayerRow(Base):
    """A layer of a build's image: where it sits, what made it, which content it has."""

    __tablename__ = "build_layers"

    build_id: Mapped[int] = mapped_column(ForeignKey("builds.id", ondelete="CASCADE"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    diff_id: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(Integer)
    instruction: Mapped[str] = mapped_column(LosslessText)
    content_id: Mapped[int] = mapped_column(ForeignKey("layer_contents.id"), index=True)

    content: Mapped[LayerContentRow] = relationship()


class FindingRow(Base):
    """One explained difference between a build and the build it was judged against."""

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(primary_key=True)
    build_id: Mapped[int] = mapped_column(ForeignKey("builds.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    layer: Mapped[int | None] = mapped_column(Integer)
    instruction: Mapped[str] = mapped_column(LosslessText)
    subject: Mapped[str] = mapped_column(LosslessText)
    change: Mapped[str] = mapped_column(String(20))
    before: Mapped[str] = mapped_column(LosslessText)
    after: Mapped[str] = mapped_column(LosslessText)
    cause: Mapped[str] = mapped_column(String(30))
    ignored: Mapped[bool] = mapped_column(Boolean)
    new: Mapped[bool] = mapped_column(Boolean)
    # The ignore rule that made the difference noise ("default: /var/log", "learned: ...").
    ignored_by: Mapped[str | None] = mapped_column(LosslessText)
    # The id of the static risk that predicted this finding, when one did.
    risk: Mapped[str | None] = mapped_column(String(20))
    ecosystem: Mapped[str | None] = mapped_column(String(20))


class BaselineRow(Base):
    """The reference build of one source fingerprint."""

    __tablename__ = "baselines"
    __table_args__ = (UniqueConstraint("target_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(80))
    build_id: Mapped[int] = mapped_column(ForeignKey("builds.id", ondelete="CASCADE"))
    # True when a person chose it with `drift accept`; False for the first good build.
    accepted: Mapped[bool] = mapped_column(Boolean)
    set_at: Mapped[datetime] = mapped_column(default=utcnow)


class BaseImageRow(Base):
    """What one FROM of a build resolved to when it was built."""

    __tablename__ = "build_base_images"

    build_id: Mapped[int] = mapped_column(ForeignKey("builds.id", ondelete="CASCADE"), primary_key=True)
    stage: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(Text)
    image_id: Mapped[str | None] = mapped_column(String(80))
    repo_digest: Mapped[str | None] = mapped_column(Text)
    layer_count: Mapped[int] = mapped_column(Integer)
    # True for the image the final stage starts from.
    final: Mapped[bool] = mapped_column(Boolean)


class LearnedNoiseRow(Base):
    """A path that differed between two back-to-back builds of one source: nondeterministic, not drift."""

    __tablename__ = "learned_noise"
    __table_args__ = (UniqueConstraint("target_id", "fingerprint", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(80))
    path: Mapped[str] = mapped_column(LosslessText)
    first_build_id: Mapped[int] = mapped_column(Integer)
    second_build_id: Mapped[int] = mapped_column(Integer)
    learned_at: Mapped[datetime] = mapped_column(default=utcnow)


class PackageSetRow(Base):
    """One distinct package manifest (packages and the layers that introduced them)."""

    __tablename__ = "package_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(80), unique=True)
    package_count: Mapped[int] = mapped_column(Integer)


class PackageRow(Base):
    """One package of a package set."""

    __tablename__ = "packages"
    __table_args__ = (Index(None, "set_id", "ecosystem", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("package_sets.id", ondelete="CASCADE"))
    ecosystem: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(LosslessText)
    version: Mapped[str] = mapped_column(LosslessText)
    arch: Mapped[str] = mapped_column(String(40))
    purl: Mapped[str] = mapped_column(LosslessText)
    source: Mapped[str] = mapped_column(LosslessText)
    layer: Mapped[int | None] = mapped_column(Integer)


class FetchSetRow(Base):
    """One distinct fetch ledger: the sorted requests of a build, keyed by their digest."""

    __tablename__ = "fetch_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(80), unique=True)
    fetch_count: Mapped[int] = mapped_column(Integer)


class FetchRow(Base):
    """One request of a fetch set."""

    __tablename__ = "fetches"
    __table_args__ = (Index(None, "set_id", "url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("fetch_sets.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(String(20))
    url: Mapped[str] = mapped_column(LosslessText)
    host: Mapped[str] = mapped_column(LosslessText)
    status: Mapped[int | None] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    instruction: Mapped[str] = mapped_column(LosslessText)
    layer: Mapped[int | None] = mapped_column(Integer)
    # The download risk on its instruction: no checksum in the Dockerfile pins the content (unverified).
    risk: Mapped[str | None] = mapped_column(String(20))
    error: Mapped[str] = mapped_column(LosslessText)


class LeaseRow(Base):
    """Who may build a target right now: one row per target, taken over only once expired."""

    __tablename__ = "leases"

    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column()


class AlertRow(Base):
    """The alert outbox: one row per event and route, sent at most once, retried until it is."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("build_id", "event", "route"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    build_id: Mapped[int] = mapped_column(ForeignKey("builds.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"), index=True)
    # drifted | broken | recovered | test
    event: Mapped[str] = mapped_column(String(20))
    route: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    # pending | sending | sent
    status: Mapped[str] = mapped_column(String(10), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    # Who is sending it ("host:pid:nonce") and since when: a claim whose holder died is taken over.
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None] = mapped_column()


class InstallationRow(Base):
    """This database's identity: a random id that labels the images it makes in a shared engine."""

    __tablename__ = "installation"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
