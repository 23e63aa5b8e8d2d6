"""/etc/shadow's last-change day: a real layer tar read, stored and compared with that field blanked.

tests/fixtures/shadow/README.md says where the layer comes from; the other
nights' layers are that same tar with the /etc/shadow member rewritten.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from drift.compare.diff import compare_images
from drift.compare.ignore import IgnoreRules
from drift.compare.verdict import judge
from drift.image.layer_tar import read_layer_tar
from drift.image.normalize import normalized_digest
from drift.storage import builds, images, targets
from drift.storage.database import Database
from drift.values import FileEntry, ImageRecord, LayerRecord, TargetSpec, Verdict

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "shadow" / "useradd-layer.tar.gz"
INSTRUCTION = "RUN groupadd --gid 1001 app && useradd --uid 1001 --gid app --create-home --shell /bin/bash app"
BASE = LayerRecord(0, "sha256:" + "0" * 64, 0, "Imported from -", normalized_digest(()), ())


def night(rewrite: Callable[[str, bytes], bytes] | None = None) -> bytes:
    """The fixture's layer tar, with each member's content passed through `rewrite(path, content)`."""
    with gzip.open(FIXTURE) as raw:
        original = raw.read()
    if rewrite is None:
        return original
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(original)) as source, tarfile.open(fileobj=out, mode="w") as target:
        for member in source.getmembers():
            if not member.isfile():
                target.addfile(member)
                continue
            extracted = source.extractfile(member)
            assert extracted is not None
            content = rewrite("/" + member.name, extracted.read())
            member.size = len(content)
            target.addfile(member, io.BytesIO(content))
    return out.getvalue()


def shadow_line(user: bytes, change: Callable[[list[bytes]], None]) -> Callable[[str, bytes], bytes]:
    def rewrite(path: str, content: bytes) -> bytes:
        if path != "/etc/shadow":
            return content
        lines = content.split(b"\n")
        for number, line in enumerate(lines):
            fields = line.split(b":")
            if fields[0] == user:
                change(fields)
                lines[number] = b":".join(fields)
        return b"\n".join(lines)

    return rewrite


def next_day(fields: list[bytes]) -> None:
    fields[2] = str(int(fields[2]) + 1).encode()


def image_of(tar: bytes) -> ImageRecord:
    entries, diff_id, size = read_layer_tar(io.BytesIO(tar))
    layer = LayerRecord(1, "sha256:" + diff_id, size, INSTRUCTION, normalized_digest(entries), entries)
    return ImageRecord("sha256:" + diff_id, (BASE, layer), {"config": {"User": "app"}}, "sha256:config")


def findings_between(a: bytes, b: bytes) -> dict[str, tuple[bool, str, str]]:
    findings = compare_images(image_of(a), image_of(b), IgnoreRules.for_target())
    return {f.subject: (f.ignored, f.cause, f.ignored_by) for f in findings}


def entry(image: ImageRecord, path: str) -> FileEntry:
    return next(e for e in image.layers[1].entries if e.path == path)


def test_the_reader_records_the_digest_of_shadow_without_its_days() -> None:
    image = image_of(night())
    shadow = entry(image, "/etc/shadow")
    with gzip.open(FIXTURE) as raw, tarfile.open(fileobj=raw) as tar:
        member = tar.extractfile("etc/shadow")
        assert member is not None
        content = member.read()
    assert b"app:!:20787:0:99999:7:::" in content
    assert shadow.sha256 == hashlib.sha256(content).hexdigest()  # the raw digest stays the file's digest
    blanked = content.replace(b":20787:", b"::")  # every entry was written that day
    assert shadow.normalized_sha256 == hashlib.sha256(blanked).hexdigest()
    assert entry(image, "/etc/shadow-").normalized_sha256
    # No other file carries one, and the layer's normalized digest is the one an
    # earlier release computed and stored: it never saw normalized digests.
    assert [e.path for e in image.layers[1].entries if e.normalized_sha256] == ["/etc/shadow", "/etc/shadow-"]
    earlier_release = [replace(e, normalized_sha256="") for e in image.layers[1].entries]
    assert normalized_digest(earlier_release) == image.layers[1].normalized_digest


def test_a_new_day_in_shadow_is_noise() -> None:
    findings = findings_between(night(), night(shadow_line(b"app", next_day)))
    ignored, cause, ignored_by = findings["/etc/shadow"]
    assert list(findings) == ["/etc/shadow"]
    assert (ignored, cause) == (True, "nondeterministic")
    assert "only the last-change day of a shadow entry differs" in ignored_by
    assert (
        judge(
            compare_images(image_of(night()), image_of(night(shadow_line(b"app", next_day))), IgnoreRules.for_target())
        )
        is Verdict.NOISY
    )


def test_a_changed_hash_or_user_in_shadow_is_drift() -> None:
    def new_hash(fields: list[bytes]) -> None:
        next_day(fields)
        fields[1] = b"$y$j9T$saltsaltsalt$0123456789abcdefghijklmnopqrstuvwxyzABCDE"

    def renamed(fields: list[bytes]) -> None:
        fields[0] = b"svc"

    def no_expiry_warning(fields: list[bytes]) -> None:
        fields[5] = b""

    for change in (new_hash, renamed, no_expiry_warning):
        tonight = night(shadow_line(b"app", change))
        findings = findings_between(night(), tonight)
        assert findings["/etc/shadow"][:2] == (False, "unknown"), change.__name__
        assert judge(compare_images(image_of(night()), image_of(tonight), IgnoreRules.for_target())) is Verdict.DRIFTED


def test_a_changed_shell_is_drift() -> None:
    def bash_to_sh(path: str, content: bytes) -> bytes:
        return content.replace(b"/home/app:/bin/bash", b"/home/app:/bin/sh") if path == "/etc/passwd" else content

    findings = findings_between(night(), night(bash_to_sh))
    assert findings == {"/etc/passwd": (False, "unknown", "")}


def test_a_new_day_is_noise_against_a_baseline_read_back_from_the_database(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'drift.db'}")
    with db.session() as session:
        targets.save_target(session, TargetSpec(name="users", repo="/r", commit="a" * 40))
        build = builds.start_build(session, "users", "fp", "a" * 40)
        builds.finish_build(session, build, status="succeeded", verdict=Verdict.BASELINE, image=image_of(night()))
    with db.session() as session:
        baseline = images.load_image(session, build)
    assert entry(baseline, "/etc/shadow").normalized_sha256 == entry(image_of(night()), "/etc/shadow").normalized_sha256
    tomorrow = image_of(night(shadow_line(b"app", next_day)))
    assert judge(compare_images(baseline, tomorrow, IgnoreRules.for_target())) is Verdict.NOISY


def test_a_baseline_an_earlier_release_stored_keeps_its_verdicts() -> None:
    # An earlier release stored no normalized digest: the same layer is still
    # reproducible, a layer that differs elsewhere does not report shadow, and
    # a new day stays what that release said it was until a new baseline.
    earlier = image_of(night())
    earlier = replace(
        earlier,
        layers=(
            BASE,
            replace(
                earlier.layers[1],
                entries=tuple(replace(e, normalized_sha256="") for e in earlier.layers[1].entries),
            ),
        ),
    )
    assert compare_images(earlier, image_of(night()), IgnoreRules.for_target()) == []

    def new_motd(path: str, content: bytes) -> bytes:
        return content + b"# edited\n" if path == "/home/app/.profile" else content

    assert {f.subject for f in compare_images(earlier, image_of(night(new_motd)), IgnoreRules.for_target())} == {
        "/home/app/.profile"
    }
    tomorrow = image_of(night(shadow_line(b"app", next_day)))
    assert judge(compare_images(earlier, tomorrow, IgnoreRules.for_target())) is Verdict.DRIFTED
