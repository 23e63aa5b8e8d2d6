"""Normalized layer and config digests: equal for a rebuild with the same content, different otherwise."""

from __future__ import annotations

import io
import tarfile
from dataclasses import replace
from typing import Any

from test_image_layer_tar import Member, make_tar  # a sibling test module: pytest puts tests/unit on sys.path

from drift.image import config_digest, normalized_config, normalized_digest, read_layer_tar
from drift.values import EntryType, FileEntry

BASE = [
    Member("app/", type=tarfile.DIRTYPE, mode=0o755),
    Member("app/main.py", b"print('hi')\n"),
    Member("app/bin", b"\x7fELF", mode=0o755),
    Member("app/run", type=tarfile.SYMTYPE, linkname="bin", mode=0o777),
    Member("app/copy", type=tarfile.LNKTYPE, linkname="app/bin", mode=0o755),
    Member("app/.wh.old", b""),
]


def digest_of(members: list[Member]) -> str:
    entries, _, _ = read_layer_tar(io.BytesIO(make_tar(*members)))
    return normalized_digest(entries)


def changed(name: str, **fields: Any) -> list[Member]:
    return [replace(member, **fields) if member.name == name else member for member in BASE]


def test_digest_ignores_mtimes_order_owner_names_and_tar_format() -> None:
    reference = digest_of(BASE)

    assert digest_of([replace(member, mtime=1_700_000_000 + i) for i, member in enumerate(BASE)]) == reference
    # Any order a tar can have: a hard link still follows its target.
    assert digest_of([BASE[5], BASE[3], BASE[2], BASE[0], BASE[4], BASE[1]]) == reference
    assert digest_of([replace(member, uname="builder", gname="staff") for member in BASE]) == reference
    entries, _, _ = read_layer_tar(io.BytesIO(make_tar(*BASE, tar_format=tarfile.GNU_FORMAT)))
    assert normalized_digest(entries) == reference


def test_digest_changes_with_anything_a_container_would_see() -> None:
    reference = digest_of(BASE)
    variants = {
        "content": changed("app/main.py", content=b"print('bye')\n"),
        "mode": changed("app/main.py", mode=0o600),
        "setuid": changed("app/bin", mode=0o4755),
        "uid": changed("app/main.py", uid=1000),
        "gid": changed("app/main.py", gid=1000),
        "symlink target": changed("app/run", linkname="main.py"),
        "hardlink target": changed("app/copy", linkname="app/main.py"),
        "added file": [*BASE, Member("app/extra", b"")],
        "removed file": BASE[:-1],
    }

    digests = {name: digest_of(members) for name, members in variants.items()}

    assert all(digest != reference for digest in digests.values()), digests
    assert len(set(digests.values())) == len(digests)


def test_digest_is_unambiguous_for_paths_with_newlines() -> None:
    one = FileEntry("/a\nb", EntryType.SYMLINK, 0o777, 0, 0, 0, "", "c")
    two = FileEntry("/a", EntryType.SYMLINK, 0o777, 0, 0, 0, "", "x\nb")

    assert normalized_digest([one]) != normalized_digest([two])
    assert normalized_digest([]).startswith("sha256:")


def test_digest_orders_by_path_then_type() -> None:
    opaque = FileEntry("/d", EntryType.OPAQUE, 0, 0, 0, 0, "", "")
    directory = FileEntry("/d", EntryType.DIR, 0o755, 0, 0, 0, "", "")

    assert normalized_digest([opaque, directory]) == normalized_digest([directory, opaque])


CONFIG: dict[str, Any] = {
    "architecture": "amd64",
    "os": "linux",
    "created": "2026-01-01T00:00:00Z",
    "container": "0123abcd",
    "docker_version": "20.10.24",
    "history": [{"created_by": "/bin/sh -c true"}],
    "rootfs": {"type": "layers", "diff_ids": ["sha256:00"]},
    "config": {
        "Hostname": "0123abcd",
        "Image": "sha256:parent",
        "Env": ["PATH=/bin"],
        "Cmd": ["sh"],
        "Entrypoint": None,
        "User": "",
        "WorkingDir": "/app",
        "Labels": {"drift.target": "web", "drift.build": "12", "org.example.team": "platform"},
        "Volumes": None,
    },
}


def test_normalized_config_keeps_what_shapes_a_container() -> None:
    assert normalized_config(CONFIG) == {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/bin"],
            "Cmd": ["sh"],
            "WorkingDir": "/app",
            "Labels": {"org.example.team": "platform"},
        },
    }


def test_config_digest_ignores_build_volatile_fields_and_drift_labels() -> None:
    rebuilt = {
        **CONFIG,
        "created": "2026-02-02T00:00:00Z",
        "container": "ffff",
        "docker_version": "25.0.0",
        "history": [],
        "config": {**CONFIG["config"], "Labels": {"drift.build": "13", "org.example.team": "platform"}},
    }

    assert config_digest(normalized_config(rebuilt)) == config_digest(normalized_config(CONFIG))


def test_config_digest_changes_with_runtime_settings() -> None:
    reference = config_digest(normalized_config(CONFIG))
    runtime = CONFIG["config"]
    assert isinstance(runtime, dict)

    for key, value in [
        ("Env", ["PATH=/bin", "DEBUG=1"]),
        ("Cmd", ["bash"]),
        ("User", "app"),
        ("Labels", {"org.example.team": "other"}),
        ("ExposedPorts", {"80/tcp": {}}),
    ]:
        other = {**CONFIG, "config": {**runtime, key: value}}
        assert config_digest(normalized_config(other)) != reference, key
    assert config_digest(normalized_config({**CONFIG, "architecture": "arm64"})) != reference
