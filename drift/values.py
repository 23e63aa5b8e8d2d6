"""Plain value types that flow between drift's stages.

Each stage (source -> build -> image -> compare -> storage -> report) takes and
returns these frozen dataclasses; none of them knows about SQL, Docker or git.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote, unquote


class EntryType(enum.StrEnum):
    """What a tar entry in a layer is."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    CHAR = "char"
    BLOCK = "block"
    FIFO = "fifo"
    WHITEOUT = "whiteout"  # `.wh.<name>`: <name> is deleted from lower layers
    OPAQUE = "opaque"  # `.wh..wh..opq`: the directory hides everything below it


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One entry of a layer's file manifest.

    Attributes:
        path: absolute path in the image ("/etc/passwd"); for a whiteout, the
            path it deletes; for an opaque marker, the directory it makes opaque.
        type: the entry's type.
        mode: permission bits (including setuid/setgid/sticky), no file-type bits.
        uid: numeric owner.
        gid: numeric group.
        size: content size in bytes (0 for anything but regular files).
        sha256: hex digest of the content for regular files (for hard links,
            the digest of the target's content when known), else "".
        link_target: symlink or hard-link target, else "".
        normalized_sha256: for a regular file with a volatile field
            (drift.image.volatile: /etc/shadow's last-change day), hex sha256
            of its content with that field blanked; else "".
        xattrs: the extended attributes (`security.capability`, ...) as
            canonical text, see `xattrs_text`: "" for none; None when not
            recorded (a manifest stored before schema revision 0009).
        device: "major:minor" of a character or block device, "" for
            anything else; None when not recorded (stored before revision 0009).
    """

    path: str
    type: EntryType
    mode: int
    uid: int
    gid: int
    size: int
    sha256: str
    link_target: str
    normalized_sha256: str = ""
    xattrs: str | None = ""
    device: str | None = ""


def xattrs_text(values: Mapping[str, bytes]) -> str:
    """Extended attributes as FileEntry.xattrs: "name=<sha256 hex of the value>" each, sorted, ";"-separated.

    Names are percent-encoded (RFC 3986 unreserved characters kept), so a
    name with ";" or "=" cannot be mistaken for two; values are hashed, not
    kept, as file contents are.
    """
    return ";".join(
        sorted(
            f"{quote(name.encode('utf-8', 'surrogateescape'), safe='')}={hashlib.sha256(value).hexdigest()}"
            for name, value in values.items()
        )
    )


def xattr_names(text: str) -> dict[str, str]:
    """FileEntry.xattrs back as {name: sha256 hex} (names decoded)."""
    if not text:
        return {}
    pairs = (item.partition("=") for item in text.split(";"))
    return {unquote(name, errors="surrogateescape"): digest for name, _, digest in pairs}


@dataclass(frozen=True, slots=True)
class LayerRecord:
    """What drift learned from one layer of a built image.

    Attributes:
        index: 0-based position in the image's RootFS.Layers (base layers first).
        diff_id: "sha256:<hex>" of the uncompressed layer tar.
        size: size of the uncompressed layer tar in bytes.
        instruction: the Dockerfile instruction that made the layer, as image
            history reports it ("RUN wget ...", "COPY ...").
        normalized_digest: "sha256:<hex>" over the sorted manifest, mtimes and
            tar order ignored (see drift.image.normalize).
        entries: the file manifest, in manifest order (by path, then type):
            a tuple, or for a layer of very many files one that is read from a
            temporary file or the database as it is iterated
            (drift.image.manifest). Iterate it; never index it.
    """

    index: int
    diff_id: str
    size: int
    instruction: str
    normalized_digest: str
    entries: Collection[FileEntry]


@dataclass(frozen=True, slots=True)
class Package:
    """One installed package.

    Attributes:
        ecosystem: "deb", "apk", "rpm", "pypi", "npm" or "golang" (purl types).
        name: the package name as its ecosystem spells it.
        version: the full version string, verbatim ("7.88.1-10+deb12u8", "1:2.3-4").
        arch: the architecture ("amd64", "x86_64", "all"), "" where none applies.
        purl: the package URL (packageurl-python), e.g.
            "pkg:deb/debian/curl@7.88.1-10%2Bdeb12u8?arch=amd64&distro=debian-12".
        source: the absolute path of the file it was read from ("/var/lib/dpkg/status").
        layer: the 0-based index of the image layer that introduced this
            version (set by the image reader; catalogers leave it None).
    """

    ecosystem: str
    name: str
    version: str
    arch: str
    purl: str
    source: str
    layer: int | None = None

    @property
    def location(self) -> str:
        """Where the package is installed, whatever its version: the source path, less a
        versioned metadata directory (`requests-2.31.0.dist-info/METADATA` -> its site-packages)."""
        head, _, tail = self.source.rpartition("/")
        for marker in (".dist-info", ".egg-info"):
            if head.endswith(marker):
                return head.rpartition("/")[0]
            if tail.endswith(marker):
                return head
        return self.source


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """A built image as read from `docker save`.

    Attributes:
        image_id: "sha256:<hex>" of the image config.
        layers: layers in RootFS order.
        config: the normalized image config (volatile fields removed).
        config_digest: "sha256:<hex>" over the normalized config.
        packages: the packages installed in the final filesystem, each with
            the layer that introduced its version.
        catalog_warnings: what the catalogers could not read.
        history: the config's history entries, oldest first, as the engine
            wrote them (one per instruction; `empty_layer` marks those that
            made no layer).
    """

    image_id: str
    layers: tuple[LayerRecord, ...]
    config: dict[str, object]
    config_digest: str
    history: tuple[dict[str, object], ...] = ()
    packages: tuple[Package, ...] = ()
    catalog_warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BuilderInfo:
    """The Docker Engine that produced a build."""

    engine_version: str
    api_version: str
    os: str
    arch: str
    storage_driver: str
    # "legacy" or "buildkit": which of the engine's builders ran the build.
    builder: str = "legacy"


@dataclass(frozen=True, slots=True)
class BaseImage:
    """What one FROM line resolved to when a build ran.

    Attributes:
        stage: 0-based index of the stage in the Dockerfile.
        reference: the reference as written after ARG substitution ("debian:bookworm").
        image_id: the local image ID it resolved to ("sha256:<hex>").
        repo_digest: the registry digest ("debian@sha256:<hex>") when the image has one.
        layer_count: how many layers the base image has.
        final: True for the image the final stage starts from (its layers are
            the first layers of the built image).
        history_length: how many history entries the base image has (known at
            build time, used to tie the built image's history to the Dockerfile).
    """

    stage: int
    reference: str
    image_id: str
    repo_digest: str
    layer_count: int
    final: bool = False
    history_length: int = 0

    @property
    def digest(self) -> str:
        """The most portable identity: the repo digest when known, else the image ID."""
        return self.repo_digest.rpartition("@")[2] if self.repo_digest else self.image_id


@dataclass(frozen=True, slots=True)
class BuildOutput:
    """Everything a succeeded build produced that a comparison looks at."""

    image: ImageRecord
    base_images: tuple[BaseImage, ...] = ()
    base_layer_count: int = 0
    builder: BuilderInfo | None = None


class Verdict(enum.StrEnum):
    """A build's judgement against the baseline of its source fingerprint."""

    BASELINE = "baseline"
    REPRODUCIBLE = "reproducible"
    NOISY = "noisy"
    DRIFTED = "drifted"
    BROKEN = "broken"
    FAILED = "failed"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Finding:
    """One explained difference between a build and its baseline.

    Attributes:
        kind: "file", "config", "layers", "base-image", "package", "builder" or "fetch".
        layer: 0-based layer index the difference is in, or None.
        instruction: the instruction that made that layer, or "".
        subject: absolute path (file), config key (config), reference
            (base-image), package name (package), URL or "host:port" (fetch).
        change: "added", "removed", "modified", or a kind-specific word.
        before: a short description of the baseline's value, or "".
        after: a short description of this build's value, or "".
        cause: likely cause ("apt", "network-fetch", "timestamp", "unknown", ...);
            "nondeterministic" for noise, which no pin would remove.
        ignored: True when an ignore rule covers the difference (noise).
        new: True when the previous build of the same fingerprint did not show
            this same difference.
        ignored_by: for noise, the rule that covers it ("default /var/log: ...").
        risk: the id of the static risk in the Dockerfile that predicted it.
        ecosystem: for package findings, the package's ecosystem ("deb", "pypi", ...).
    """

    kind: str
    layer: int | None
    instruction: str
    subject: str
    change: str
    before: str = ""
    after: str = ""
    cause: str = "unknown"
    ignored: bool = False
    new: bool = True
    ignored_by: str = ""
    risk: str = ""
    ecosystem: str = ""

    def key(self) -> tuple[str, int | None, str, str, str]:
        """Identity of the difference, used to tell whether it is new."""
        return (self.kind, self.layer, self.subject, self.change, self.after)


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """What the user controls about a tracked build."""

    name: str
    repo: str
    commit: str
    dockerfile: str = "Dockerfile"
    context: str = "."
    build_args: dict[str, str] = field(default_factory=dict)
    stage: str | None = None
    platform: str | None = None
    network: str | None = None
    pull: str = "always"
    schedule: str = "@daily"
    ignore: tuple[str, ...] = ()
    timeout_s: int = 3600
    alerts: tuple[str, ...] = ()
    # "auto" (BuildKit where the engine has it), "buildkit" or "legacy".
    builder: str = "auto"
    # Record what the build fetches through drift's proxy (the fetch ledger, drift.ledger).
    ledger: bool = True
    # The published image (a tag or an "@sha256:" reference) the builds are judged against (drift.published).
    published: str | None = None


@dataclass(frozen=True, slots=True)
class RecordedFetch:
    """One request of a build's fetch ledger, as stored: what was fetched, during which instruction.

    Attributes:
        method: "GET", "HEAD", "POST", ... or "CONNECT" for an HTTPS tunnel.
        url: the full URL for plain HTTP; "host:port" for CONNECT.
        host: the origin's host, without port.
        status: the status code answered, None when no answer came.
        bytes: response body bytes the build received (for CONNECT, every tunnel byte from the server).
        sha256: hex digest of the complete response body; "" for CONNECT and incomplete bodies.
        instruction: the Dockerfile instruction that was running ("RUN wget ..."), "" when unknown.
        layer: the 0-based index of the image layer that instruction made, None when it made none
            in the final image (a builder stage, an instruction that left no layer) or is unknown.
        risk: the id of a download risk on that instruction (DRIFT301-304...): no checksum in the
            Dockerfile pins what was fetched, so the fetch is unverified. "" otherwise.
        error: why the exchange did not complete, "" when it did.
    """

    method: str
    url: str
    host: str
    status: int | None
    bytes: int
    sha256: str
    instruction: str = ""
    layer: int | None = None
    risk: str = ""
    error: str = ""

    @property
    def unverified(self) -> bool:
        """Fetched content that no checksum in the Dockerfile pins (a download risk is on its instruction)."""
        return bool(self.risk)


@dataclass(frozen=True, slots=True)
class BuildSummary:
    """A recorded build as the reports and the command line see it.

    Attributes:
        id: the build number (unique across targets).
        target: the target's name.
        fingerprint: the source fingerprint the build was made from.
        commit: the commit built.
        status: "running", "succeeded", "failed", "error" or "interrupted".
        verdict: the judgement, or None while running.
        started_at, finished_at: UTC timestamps.
        image_id: the built image's ID, when the build succeeded.
        builder: the engine that built it, when it was reached.
        compared_to: the build this one was judged against.
        error: why the build failed or the check could not run.
        failed_step: the Dockerfile step that failed.
        log_tail: the last lines of the build log of a failed build.
        findings: the differences from the build it was judged against.
        is_baseline: True when this build is now its fingerprint's baseline.
        accepted: True when a person made it the baseline with `drift accept`.
        published: set when this is no build but a published image as pulled ("REF@sha256:...").
        compared_to_published: the published image ("REF@sha256:...") this build was judged against.
    """

    id: int
    target: str
    fingerprint: str
    commit: str
    status: str
    verdict: Verdict | None
    started_at: datetime
    finished_at: datetime | None
    image_id: str | None
    builder: BuilderInfo | None
    compared_to: int | None
    error: str | None
    failed_step: str | None
    log_tail: str | None
    findings: tuple[Finding, ...]
    is_baseline: bool
    accepted: bool
    base_images: tuple[BaseImage, ...] = ()
    engine_host: str | None = None
    # The fetch ledger: "on", "off" (the target's choice) or "off: <why>"; None for builds before it existed.
    ledger: str | None = None
    fetches: tuple[RecordedFetch, ...] = ()
    published: str | None = None
    compared_to_published: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One finished build as a target's recent history lists it in `drift report`: a night of its timeline.

    Attributes:
        id: the build number.
        verdict: its judgement.
        started_at: when it started (UTC).
        commit: the commit built.
    """

    id: int
    verdict: Verdict
    started_at: datetime
    commit: str
