"""Findings, ignore rules, causes and verdicts, on manifests built by hand."""

from __future__ import annotations

import hashlib

from drift.compare.causes import likely_cause
from drift.compare.diff import compare_images
from drift.compare.ignore import DEFAULT_RULES, IgnoreRules
from drift.compare.verdict import judge, mark_new
from drift.image.normalize import normalized_digest
from drift.values import EntryType, FileEntry, ImageRecord, LayerRecord, Verdict


def file(path: str, content: bytes = b"x", mode: int = 0o644, uid: int = 0) -> FileEntry:
    return FileEntry(path, EntryType.FILE, mode, uid, uid, len(content), hashlib.sha256(content).hexdigest(), "")


def layer(index: int, instruction: str, *entries: FileEntry) -> LayerRecord:
    return LayerRecord(index, f"sha256:{index:064d}", 0, instruction, normalized_digest(entries), tuple(entries))


def image(*layers: LayerRecord, config: dict | None = None) -> ImageRecord:  # type: ignore[type-arg]
    config = config or {"Cmd": ["sh"]}
    return ImageRecord("sha256:" + "0" * 64, tuple(layers), config, str(sorted(config.items())))


BASE = layer(0, "Imported from -", file("/bin/sh", b"busybox"))


def test_identical_content_is_reproducible() -> None:
    a = image(BASE, layer(1, "RUN wget -O /opt/tool URL", file("/opt/tool", b"1.0")))
    b = image(BASE, layer(1, "RUN wget -O /opt/tool URL", file("/opt/tool", b"1.0")))
    assert compare_images(a, b, IgnoreRules.for_target()) == []
    assert judge([]) is Verdict.REPRODUCIBLE


def test_changed_download_is_drift_in_its_layer_with_network_fetch_cause() -> None:
    a = image(BASE, layer(1, "RUN wget -O /opt/tool URL", file("/opt/tool", b"1.0")))
    b = image(BASE, layer(1, "RUN wget -O /opt/tool URL", file("/opt/tool", b"1.1"), file("/opt/new")))
    findings = compare_images(a, b, IgnoreRules.for_target())
    assert [(f.layer, f.subject, f.change, f.cause) for f in findings] == [
        (1, "/opt/new", "added", "network-fetch"),
        (1, "/opt/tool", "modified", "network-fetch"),
    ]
    assert findings[1].before.startswith("3 B sha256:") and findings[1].before != findings[1].after
    assert judge(findings) is Verdict.DRIFTED


def test_mode_owner_and_link_changes_are_named() -> None:
    link_a = FileEntry("/l", EntryType.SYMLINK, 0o777, 0, 0, 0, "", "/a")
    link_b = FileEntry("/l", EntryType.SYMLINK, 0o777, 0, 0, 0, "", "/b")
    a = image(layer(0, "RUN x", file("/m", mode=0o644), file("/o", uid=0), link_a))
    b = image(layer(0, "RUN x", file("/m", mode=0o755), file("/o", uid=1000), link_b))
    changes = {(f.subject, f.change, f.before, f.after) for f in compare_images(a, b, IgnoreRules.for_target())}
    assert changes == {("/l", "link", "/a", "/b"), ("/m", "mode", "0644", "0755"), ("/o", "owner", "0:0", "1000:1000")}


def test_differences_only_in_ignored_paths_are_noisy() -> None:
    instruction = "RUN apt-get update && apt-get install -y curl"
    a = image(BASE, layer(1, instruction, file("/var/log/dpkg.log", b"a"), file("/usr/bin/curl", b"c")))
    b = image(BASE, layer(1, instruction, file("/var/log/dpkg.log", b"b"), file("/usr/bin/curl", b"c")))
    findings = compare_images(a, b, IgnoreRules.for_target())
    assert [f.ignored for f in findings] == [True]
    assert judge(findings) is Verdict.NOISY


def test_target_ignore_globs_extend_the_defaults() -> None:
    a = image(layer(0, "RUN date > /etc/build-date", file("/etc/build-date", b"mon")))
    b = image(layer(0, "RUN date > /etc/build-date", file("/etc/build-date", b"tue")))
    assert judge(compare_images(a, b, IgnoreRules.for_target())) is Verdict.DRIFTED
    assert judge(compare_images(a, b, IgnoreRules.for_target(["/etc/build-*"]))) is Verdict.NOISY
    [finding] = compare_images(a, b, IgnoreRules.for_target())
    assert finding.cause == "timestamp"


def test_layer_count_and_config_changes() -> None:
    a = image(BASE, config={"Cmd": ["sh"], "Env": ["A=1"]})
    b = image(BASE, layer(1, "COPY x /x", file("/x")), config={"Cmd": ["sh"], "Env": ["A=2"]})
    findings = compare_images(a, b, IgnoreRules.for_target())
    kinds = [(f.kind, f.subject, f.change) for f in findings]
    assert ("layers", "layer count", "modified") in kinds
    assert ("file", "/x", "added") in kinds
    assert ("config", "Env", "modified") in kinds


def test_default_ignore_rules_cover_the_usual_noise_and_say_why() -> None:
    rules = IgnoreRules.for_target()
    for path in (
        "/var/lib/apt/lists/127.0.0.1_Packages",
        "/var/cache/apt/pkgcache.bin",
        "/var/log/apt/history.log",
        "/etc/ld.so.cache",
        "/usr/lib/python3/dist-packages/x/__pycache__/y.cpython-311.pyc",
        "/tmp/build.sh",
        "/var/lib/dpkg/status-old",
    ):
        assert rules.ignores(path), path
    for path in ("/var/lib/dpkg/status", "/usr/bin/curl", "/etc/apt/sources.list", "/tmpfile", "/var/logs"):
        assert not rules.ignores(path), path
    assert all(rule.reason for rule in DEFAULT_RULES)


def test_causes_from_instruction_and_path() -> None:
    assert likely_cause("RUN apt-get update && apt-get install -y curl", "/usr/bin/curl") == "apt"
    assert likely_cause("RUN curl -fsSL https://x/latest.tar.gz | tar -x", "/opt/x") == "network-fetch"
    assert likely_cause("ADD https://example.invalid/tool /tool") == "network-fetch"
    assert likely_cause("RUN pip install requests") == "pip"
    assert likely_cause("RUN make", "/var/lib/dpkg/status") == "apt"
    assert likely_cause("RUN echo hi > /x") == "unknown"


def test_new_flag_follows_the_previous_build() -> None:
    a = image(BASE, layer(1, "RUN wget x", file("/opt/tool", b"1.0")))
    b = image(BASE, layer(1, "RUN wget x", file("/opt/tool", b"1.1")))
    findings = compare_images(a, b, IgnoreRules.for_target())
    assert [f.new for f in mark_new(findings, set())] == [True]
    assert [f.new for f in mark_new(findings, {f.key() for f in findings})] == [False]


def test_a_new_engine_version_is_a_builder_finding_and_the_cause_of_unexplained_changes() -> None:
    from drift.compare.diff import compare_builds
    from drift.values import BuilderInfo, BuildOutput

    old_engine = BuilderInfo("20.10.24", "1.41", "linux", "amd64", "overlay2")
    new_engine = BuilderInfo("25.0.3", "1.44", "linux", "amd64", "overlay2")
    same = image(BASE, layer(1, "RUN make", file("/app/bin", b"same")))
    changed = image(BASE, layer(1, "RUN make", file("/app/bin", b"other")))

    only_engine = compare_builds(
        BuildOutput(same, builder=old_engine), BuildOutput(same, builder=new_engine), IgnoreRules.for_target()
    )
    assert [(f.kind, f.before, f.after) for f in only_engine] == [("builder", "20.10.24", "25.0.3")]
    # Informational: the content is the same, so the build is still reproducible.
    assert judge(only_engine) is Verdict.REPRODUCIBLE

    both = compare_builds(
        BuildOutput(same, builder=old_engine), BuildOutput(changed, builder=new_engine), IgnoreRules.for_target()
    )
    [bin_change] = [f for f in both if f.kind == "file"]
    assert bin_change.cause == "builder"
    assert judge(both) is Verdict.DRIFTED
