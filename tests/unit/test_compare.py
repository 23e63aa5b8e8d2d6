"""Findings, ignore rules, causes and verdicts, on manifests built by hand."""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import replace
from typing import Any

from drift.compare.causes import likely_cause
from drift.compare.diff import compare_images
from drift.compare.ignore import DEFAULT_RULES, IgnoreRule, IgnoreRules
from drift.compare.verdict import judge, mark_new
from drift.image.layer_tar import read_layer_tar
from drift.image.normalize import normalized_digest
from drift.values import EntryType, FileEntry, ImageRecord, LayerRecord, Verdict


def file(path: str, content: bytes = b"x", mode: int = 0o644, uid: int = 0) -> FileEntry:
    return FileEntry(path, EntryType.FILE, mode, uid, uid, len(content), hashlib.sha256(content).hexdigest(), "")


def layer(index: int, instruction: str, *entries: FileEntry) -> LayerRecord:
    return LayerRecord(index, f"sha256:{index:064d}", 0, instruction, normalized_digest(entries), tuple(entries))


def image(*layers: LayerRecord, config: dict[str, Any] | None = None) -> ImageRecord:
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


def test_npm_git_and_dbus_leftovers_are_noise_in_every_home() -> None:
    rules = IgnoreRules.for_target()
    for path in (
        "/root/.npm/_cacache/index-v5/1f/2a/0123abcd",
        "/home/node/.npm/_cacache/content-v2/sha512/aa/bb/cc",
        "/home/node/.npm/_logs/2026-01-01T03_00_00_000Z-debug-0.log",
        "/src/tool/.git/index",
        "/src/tool/.git/logs/HEAD",
        "/src/tool/.git/logs/refs/remotes/origin/HEAD",
        "/src/tool/.git/FETCH_HEAD",
        "/src/tool/.git/ORIG_HEAD",
        "/src/tool/.git/modules/vendor/lib/index",
        "/var/lib/dbus/machine-id",
        "/home/app/.cache/pip/http-v2/a/b/c",
        "/usr/local/share/.cache/yarn/v6/npm-left-pad-1.3.0/package.json",
        "/root/.cache/go-build/00/0011-d",
        "/root/.cache/pypoetry/cache/repositories/PyPI/_http/x",
    ):
        assert rules.ignores(path), path
    # What a clone is made of stays content; so do caches the image runs from.
    for path in (
        "/src/tool/.git/HEAD",
        "/src/tool/.git/packed-refs",
        "/src/tool/.git/shallow",
        "/src/tool/.git/refs/heads/main",
        "/src/tool/.git/objects/pack/pack-1234.pack",
        "/root/.cache/huggingface/hub/models--gpt2/snapshots/abc/config.json",
        "/root/.cache/torch/hub/checkpoints/resnet18.pth",
        "/root/.cache/ms-playwright/chromium-1105/chrome-linux/chrome",
        "/root/.cache/puppeteer/chrome/linux-121/chrome",
        "/home/app/.npmrc",
    ):
        assert not rules.ignores(path), path


def test_a_changed_model_in_the_huggingface_cache_is_drift_a_changed_pip_cache_is_noise() -> None:
    instruction = "RUN pip install huggingface_hub==0.23.0 && python -c 'snapshot_download(\"gpt2\")'"
    model = "/root/.cache/huggingface/hub/models--gpt2/snapshots/main/model.safetensors"
    wheel = "/root/.cache/pip/http-v2/4/5/6/entry"
    night_1 = image(BASE, layer(1, instruction, file(model, b"revision 1"), file(wheel, b"fetched monday")))
    night_2 = image(BASE, layer(1, instruction, file(model, b"revision 2"), file(wheel, b"fetched tuesday")))
    findings = {f.subject: f for f in compare_images(night_1, night_2, IgnoreRules.for_target())}
    assert not findings[model].ignored and findings[model].cause == "network-fetch"
    assert findings[wheel].ignored and findings[wheel].ignored_by.startswith("default rule */.cache/pip:")
    assert judge(list(findings.values())) is Verdict.DRIFTED
    only_pip = image(BASE, layer(1, instruction, file(model, b"revision 1"), file(wheel, b"fetched tuesday")))
    assert judge(compare_images(night_1, only_pip, IgnoreRules.for_target())) is Verdict.NOISY


def test_noise_has_the_cause_nondeterministic_not_the_package_manager_that_wrote_it() -> None:
    instruction = "RUN apt-get update && apt-get install -y dbus"
    a = image(BASE, layer(1, instruction, file("/var/lib/dbus/machine-id", b"1f0e"), file("/usr/bin/dbus-daemon")))
    b = image(BASE, layer(1, instruction, file("/var/lib/dbus/machine-id", b"9c2d"), file("/usr/bin/dbus-daemon")))
    [finding] = compare_images(a, b, IgnoreRules.for_target())
    assert (finding.subject, finding.ignored, finding.cause) == ("/var/lib/dbus/machine-id", True, "nondeterministic")
    assert judge([finding]) is Verdict.NOISY


def test_a_cache_the_image_command_reads_is_content() -> None:
    instruction = "RUN pip download --dest /root/.cache/pip/models tiny-model"
    path = "/root/.cache/pip/models/tiny.bin"
    serve = {"config": {"Cmd": ["serve", "--models=/root/.cache/pip/models"]}}
    a = image(BASE, layer(1, instruction, file(path, b"v1")), config=serve)
    b = image(BASE, layer(1, instruction, file(path, b"v2")), config=serve)
    [finding] = compare_images(a, b, IgnoreRules.for_target())
    assert not finding.ignored and judge([finding]) is Verdict.DRIFTED
    # Naming a directory above the cache does not make the whole cache content.
    home = {"config": {"Cmd": ["jupyter", "lab", "--notebook-dir=/root"]}}
    a, b = (image(BASE, layer(1, instruction, file(path, c)), config=home) for c in (b"v1", b"v2"))
    assert judge(compare_images(a, b, IgnoreRules.for_target())) is Verdict.NOISY


def test_a_base_rebuilt_with_the_same_packages_is_retagged_in_every_stage_and_the_build_noisy() -> None:
    from drift.compare.diff import compare_builds
    from drift.values import BaseImage, BuildOutput

    def base_layer(apt_cache: bytes, curl: bytes = b"curl 7.88.1") -> LayerRecord:
        return layer(
            0,
            "Imported from -",
            file("/usr/bin/curl", curl),
            file("/var/cache/apt/pkgcache.bin", apt_cache),
            file("/var/log/apt/history.log", apt_cache),
        )

    def build(base: LayerRecord, image_id: str) -> BuildOutput:
        own = layer(1, "COPY --from=builder /out/app /usr/local/bin/app", file("/usr/local/bin/app", b"app"))
        bases = (
            BaseImage(0, "debian:bookworm", image_id, "", 1),
            BaseImage(1, "debian:bookworm", image_id, "", 1, final=True),
        )
        return BuildOutput(image(base, own), base_images=bases, base_layer_count=1)

    monday = build(base_layer(b"monday"), "sha256:" + "1" * 64)
    rebuilt = build(base_layer(b"tuesday"), "sha256:" + "2" * 64)
    findings = compare_builds(monday, rebuilt, IgnoreRules.for_target())
    bases = [f for f in findings if f.kind == "base-image"]
    assert [(f.subject, f.change) for f in bases] == [("debian:bookworm", "retagged")] * 2
    noise = [f for f in findings if f.kind == "file"]
    assert {f.subject for f in noise} == {"/var/cache/apt/pkgcache.bin", "/var/log/apt/history.log"}
    assert all(f.ignored and f.cause == "nondeterministic" for f in noise)
    assert judge(findings) is Verdict.NOISY

    upgraded = build(base_layer(b"tuesday", curl=b"curl 7.88.1-10+deb12u9"), "sha256:" + "3" * 64)
    findings = compare_builds(monday, upgraded, IgnoreRules.for_target())
    assert [f.change for f in findings if f.kind == "base-image"] == ["moved", "moved"]
    # The moved base is one finding, not the files it brought.
    assert not [f for f in findings if f.kind == "file"]
    assert judge(findings) is Verdict.DRIFTED


def test_the_readme_lists_every_default_rule_with_its_reason() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for rule in DEFAULT_RULES:
        assert f"| `{rule.pattern}` | {rule.reason} |" in readme, rule.pattern


# --- extended attributes, devices, hard links and opaque directories, on real tar streams -----------------

CAP_NET_RAW = bytes.fromhex("0100000200200000000000000000000000000000")  # `setcap cap_net_raw=ep`
CAP_NET_ADMIN = bytes.fromhex("0100000200100000000000000000000000000000")  # `setcap cap_net_admin=ep`


def tar_layer(index: int, instruction: str, *members: tuple[tarfile.TarInfo, bytes]) -> LayerRecord:
    """A layer read by drift's own reader from a tar that tarfile writes (pax format)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, content in members:
            tar.addfile(info, io.BytesIO(content) if info.isreg() else None)
    entries, diff_id, size = read_layer_tar(io.BytesIO(buffer.getvalue()))
    return LayerRecord(index, "sha256:" + diff_id, size, instruction, normalized_digest(entries), entries)


def member(
    name: str, content: bytes = b"", *, kind: bytes = tarfile.REGTYPE, link: str = "", caps: bytes | None = None
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = kind, link, 0o755, 1_600_000_000
    info.size = len(content) if kind == tarfile.REGTYPE else 0
    if caps is not None:
        # tarfile writes a value that is not UTF-8 as raw bytes (hdrcharset=BINARY), as Docker does.
        info.pax_headers = {"SCHILY.xattr.security.capability": caps.decode("utf-8", "surrogateescape")}
    return info, content


SETCAP = "RUN apt-get install -y iputils-ping && setcap cap_net_raw=ep /bin/ping"


def test_a_file_that_gains_a_capability_is_drift_naming_the_attribute() -> None:
    a = image(BASE, tar_layer(1, SETCAP, member("bin/ping", b"ping")))
    b = image(BASE, tar_layer(1, SETCAP, member("bin/ping", b"ping", caps=CAP_NET_RAW)))

    findings = compare_images(a, b, IgnoreRules.for_target())

    assert [(f.kind, f.layer, f.subject, f.change, f.before) for f in findings] == [
        ("file", 1, "/bin/ping", "xattrs", "none")
    ]
    assert findings[0].after.startswith("security.capability sha256:")
    assert judge(findings) is Verdict.DRIFTED


def test_a_changed_capability_value_is_drift_and_an_equal_one_reproducible() -> None:
    raw = image(BASE, tar_layer(1, SETCAP, member("bin/ping", b"ping", caps=CAP_NET_RAW)))
    admin = image(BASE, tar_layer(1, SETCAP, member("bin/ping", b"ping", caps=CAP_NET_ADMIN)))

    (finding,) = compare_images(raw, admin, IgnoreRules.for_target())

    assert (finding.change, finding.subject) == ("xattrs", "/bin/ping")
    assert finding.before != finding.after and "security.capability" in finding.before
    assert compare_images(raw, raw, IgnoreRules.for_target()) == []


def test_a_baseline_stored_before_xattrs_and_devices_were_recorded_is_not_drift_by_itself() -> None:
    current = tar_layer(
        1, SETCAP, member("bin/ping", b"ping", caps=CAP_NET_RAW), member("dev/null", kind=tarfile.CHRTYPE)
    )
    # What a release before revision 0009 stored for the same layer: no xattrs, no device numbers, another digest.
    stored = [replace(e, xattrs=None, device=None) for e in current.entries]
    old_digest = normalized_digest([replace(e, xattrs="", device="") for e in stored])
    baseline = LayerRecord(1, current.diff_id, current.size, SETCAP, old_digest, tuple(stored))
    assert old_digest != current.normalized_digest

    assert compare_images(image(BASE, baseline), image(BASE, current), IgnoreRules.for_target()) == []


def test_device_numbers_are_compared() -> None:
    def device(minor: int) -> LayerRecord:
        info, _ = member("dev/tty0", kind=tarfile.CHRTYPE)
        info.devmajor, info.devminor = 4, minor
        return tar_layer(1, "RUN mknod", (info, b""))

    (finding,) = compare_images(image(BASE, device(0)), image(BASE, device(1)), IgnoreRules.for_target())

    assert (finding.subject, finding.change, finding.before, finding.after) == ("/dev/tty0", "device", "4:0", "4:1")


def test_a_hard_linked_pair_in_either_tar_order_is_reproducible() -> None:
    one = tar_layer(
        1,
        "RUN make",
        member("usr/bin/perl", b"perl"),
        member("usr/bin/perl5", kind=tarfile.LNKTYPE, link="usr/bin/perl"),
    )
    other = tar_layer(
        1,
        "RUN make",
        member("usr/bin/perl5", b"perl"),
        member("usr/bin/perl", kind=tarfile.LNKTYPE, link="usr/bin/perl5"),
    )

    assert one.normalized_digest == other.normalized_digest
    assert compare_images(image(BASE, one), image(BASE, other), IgnoreRules.for_target()) == []


def test_a_pair_stored_in_the_other_order_before_hard_links_were_canonical_is_reproducible() -> None:
    current = tar_layer(
        1,
        "RUN make",
        member("usr/bin/perl", b"perl"),
        member("usr/bin/perl5", kind=tarfile.LNKTYPE, link="usr/bin/perl"),
    )
    # An earlier release kept the tar's order: "perl5" the file, "perl" the link (with the file's digest).
    perl5 = replace(next(e for e in current.entries if e.path == "/usr/bin/perl"), path="/usr/bin/perl5")
    perl = FileEntry("/usr/bin/perl", EntryType.HARDLINK, 0o755, 0, 0, 0, perl5.sha256, "/usr/bin/perl5")
    stored = LayerRecord(1, "sha256:" + "9" * 64, 0, "RUN make", normalized_digest([perl, perl5]), (perl, perl5))

    assert compare_images(image(BASE, stored), image(BASE, current), IgnoreRules.for_target()) == []


def directory(path: str) -> FileEntry:
    return FileEntry(path, EntryType.DIR, 0o755, 0, 0, 0, "", "")


def opaque(path: str) -> FileEntry:
    return FileEntry(path, EntryType.OPAQUE, 0, 0, 0, 0, "", "")


def test_a_directory_replaced_in_a_layer_is_one_finding_not_a_duplicate_added_line() -> None:
    before = image(BASE, layer(1, "RUN build", file("/data/a")))
    after = image(BASE, layer(1, "RUN build", file("/data/a"), directory("/data"), opaque("/data")))

    findings = compare_images(before, after, IgnoreRules.for_target())

    assert [(f.subject, f.change, f.after) for f in findings] == [("/data", "replaced", "dir, opaque")]


def test_a_directory_made_opaque_or_no_longer_opaque_says_so() -> None:
    plain = image(BASE, layer(1, "RUN build", directory("/data")))
    hidden = image(BASE, layer(1, "RUN build", directory("/data"), opaque("/data")))

    (made,) = compare_images(plain, hidden, IgnoreRules.for_target())
    (undone,) = compare_images(hidden, plain, IgnoreRules.for_target())

    assert (made.subject, made.change) == ("/data", "made opaque")
    assert (undone.subject, undone.change) == ("/data", "no longer opaque")
    gone = compare_images(hidden, image(BASE, layer(1, "RUN build", file("/x"))), IgnoreRules.for_target())
    assert [(f.subject, f.change, f.before) for f in gone] == [("/data", "removed", "dir, opaque"), ("/x", "added", "")]


def test_a_learned_rule_is_the_path_itself_not_a_glob() -> None:
    learned = IgnoreRule("/opt/cache[1]/stamp?", "differed between back-to-back builds 1 and 2", "learned")
    star = IgnoreRule("/srv/*", "differed between back-to-back builds 1 and 2", "learned")

    assert learned.matches("/opt/cache[1]/stamp?")
    assert learned.matches("/opt/cache[1]/stamp?/inside")
    assert not learned.matches("/opt/cache1/stamps")
    assert not learned.matches("/opt/cache[1]/stamp?x")
    assert star.matches("/srv/*") and not star.matches("/srv/index.html")
    # A rule a person wrote stays a glob.
    assert IgnoreRule("/srv/*", "the target's --ignore", "target").matches("/srv/index.html")
