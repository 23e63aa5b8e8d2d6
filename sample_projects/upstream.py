#!/usr/bin/env python3
"""Play "the outside world" for the sample projects, on 127.0.0.1 only.

The samples that drift on purpose fetch something at build time: a "latest"
file over HTTP (``latest-download``) or an unpinned Debian package
(``debian-apt``). This module serves a directory over HTTP and changes what is
in it between builds, so the drift is real and reproducible offline.

Library use (stdlib only, Python 3.11)::

    import upstream
    srv = upstream.serve(tmp_dir)                      # port 0: a free port
    upstream.publish_deb(tmp_dir / "apt", "hello-drift", "1.0")
    upstream.publish_file(tmp_dir, "tool/latest.txt", b"v1\\n")
    ...  # docker build --network host --build-arg APT_SOURCE="deb [trusted=yes] {srv.url}apt/ ./"
    srv.close()

Command line::

    python sample_projects/upstream.py serve --dir D [--port P]
    python sample_projects/upstream.py publish-file --dir D --path tool/latest.txt --content 'v1'
    python sample_projects/upstream.py publish-deb --repo D --name hello-drift --version 1.0
    python sample_projects/upstream.py publish-wheel --index D --name drift_sample_lib --version 1.0
    python sample_projects/upstream.py publish-wheels --index D --from-dir WHEELS

``publish_deb`` needs ``dpkg-deb`` and ``dpkg-scanpackages`` (Debian's dpkg and
dpkg-dev packages).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import http.server
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
# A fixed timestamp for everything inside a .deb: publishing the same
# name/version/payload twice yields the same bytes.
DEB_EPOCH = 1700000000
_PKG_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_DEB_VERSION = re.compile(r"(\d+:)?[0-9][A-Za-z0-9.+~:-]*")
_DEB_ARCH = re.compile(r"[a-z0-9][a-z0-9-]*")


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files, always the current content, no access log."""

    requests: list[str]  # set per server by serve()

    def do_GET(self) -> None:
        self._forget_client_cache()
        self.requests.append(self.path)
        super().do_GET()

    def do_HEAD(self) -> None:
        self._forget_client_cache()
        super().do_HEAD()

    def _forget_client_cache(self) -> None:
        # Never answer 304: a file may change twice within one mtime second.
        del self.headers["If-Modified-Since"]

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Upstream:
    """A running HTTP server; ``serve()`` returns one. Also a context manager."""

    def __init__(self, directory: Path, httpd: http.server.ThreadingHTTPServer,
                 requests: list[str]) -> None:
        self.directory = directory
        self._httpd = httpd
        self.port: int = httpd.server_address[1]
        self.url = f"http://{HOST}:{self.port}/"
        #: paths of all GET requests, in order, 404s included ("did the build fetch it?")
        self.requests = requests
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
            name=f"upstream:{self.port}", daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port. Safe to call twice."""
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    def __enter__(self) -> Upstream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Upstream {self.url} serving {self.directory}>"


def serve(directory: str | os.PathLike[str], port: int = 0) -> Upstream:
    """Serve ``directory`` on 127.0.0.1:``port`` (0: any free port) in a daemon thread."""
    root = Path(directory).resolve()
    root.mkdir(parents=True, exist_ok=True)
    requests: list[str] = []
    handler = type("Handler", (_Handler,), {"requests": requests})
    httpd = http.server.ThreadingHTTPServer(
        (HOST, port), functools.partial(handler, directory=str(root)))
    httpd.daemon_threads = True
    return Upstream(root, httpd, requests)


def _inside(directory: Path, relpath: str | os.PathLike[str]) -> Path:
    base = directory.resolve()
    target = (base / str(relpath).lstrip("/")).resolve()
    if target != base and base not in target.parents:
        raise ValueError(f"{relpath!s} is outside {directory}")
    return target


def _write_atomic(path: Path, content: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def publish_file(directory: str | os.PathLike[str], relpath: str | os.PathLike[str],
                 content: bytes) -> Path:
    """Atomically (re)write ``directory/relpath``; a concurrent GET sees old or new, never half."""
    path = _inside(Path(directory), relpath)
    _write_atomic(path, content)
    return path


def default_payload(name: str, version: str) -> dict[str, bytes]:
    """What a package built by ``publish_deb`` contains unless told otherwise."""
    return {
        f"/usr/share/{name}/version": f"{version}\n".encode(),
        f"/usr/bin/{name}": f"#!/bin/sh\necho '{name} {version}'\n".encode(),
    }


def publish_deb(repo_dir: str | os.PathLike[str], name: str, version: str,
                payload: dict[str, bytes] | None = None, arch: str = "all") -> Path:
    """Build ``name_version_arch.deb`` into the flat apt repository ``repo_dir``.

    ``payload`` maps absolute paths in the package to their content (default:
    ``default_payload``); files under a ``bin``/``sbin`` directory are made
    executable. Versions published earlier stay in the repository, and
    ``Packages``/``Packages.gz`` list them all, so apt installs the newest.
    Returns the path of the .deb. Use it as ``deb [trusted=yes] URL ./``.
    """
    if not _PKG_NAME.fullmatch(name):
        raise ValueError(f"invalid Debian package name: {name!r}")
    if not _DEB_VERSION.fullmatch(version):
        raise ValueError(f"invalid Debian version: {version!r}")
    if not _DEB_ARCH.fullmatch(arch):
        raise ValueError(f"invalid Debian architecture: {arch!r}")
    repo = Path(repo_dir)
    repo.mkdir(parents=True, exist_ok=True)
    files = default_payload(name, version) if payload is None else payload
    deb = repo / f"{name}_{version.split(':', 1)[-1]}_{arch}.deb"
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(DEB_EPOCH)}
    with tempfile.TemporaryDirectory(prefix="upstream-deb.") as tmp:
        root = Path(tmp) / "root"
        control = root / "DEBIAN" / "control"
        control.parent.mkdir(parents=True)
        control.write_text(
            f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
            "Maintainer: drift samples <drift@example.invalid>\n"
            f"Description: {name} {version}, published by drift's sample upstream\n")
        for dest, content in files.items():
            path = _inside(root, dest)
            if path == root or root / "DEBIAN" in (path, *path.parents):
                raise ValueError(f"invalid payload path: {dest!r}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        for p in [root, *root.rglob("*")]:
            executable = p.is_dir() or p.parent.name in ("bin", "sbin")
            p.chmod(0o755 if executable else 0o644)
        built = Path(tmp) / deb.name
        _run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(built)], env=env)
        shutil.move(built, deb.with_name(f".{deb.name}.tmp"))
        os.replace(deb.with_name(f".{deb.name}.tmp"), deb)
    _write_index(repo)
    return deb


def _write_index(repo: Path) -> None:
    """Regenerate Packages and Packages.gz of a flat repository (all versions)."""
    packages = _run(["dpkg-scanpackages", "--multiversion", "."], cwd=repo).stdout
    _write_atomic(repo / "Packages.gz", gzip.compress(packages, mtime=0))
    _write_atomic(repo / "Packages", packages)


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(cmd, check=True, capture_output=True, **kwargs)
    except FileNotFoundError as e:
        raise RuntimeError(f"{cmd[0]} not found (install Debian's dpkg-dev)") from e
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"{' '.join(cmd)} failed: {e.stderr.decode(errors='replace')}") from e


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def publish_wheel(index_dir: str | os.PathLike[str], name: str, version: str) -> Path:
    """Build a real (pure-Python) wheel of `name` `version` into a PEP 503 simple index under `index_dir`.

    Serve `index_dir` and point pip at ``{url}/simple/``. The package's module
    prints its version: ``python -c "import NAME; print(NAME.VERSION)"``.
    """
    import base64
    import hashlib
    import zipfile

    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise ValueError(f"wheel name {name!r}: use a Python identifier")
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)*", version):
        raise ValueError(f"wheel version {version!r}: use dotted numbers")
    root = Path(index_dir)
    packages = root / "packages"
    packages.mkdir(parents=True, exist_ok=True)
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f'VERSION = "{version}"\n'.encode(),
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: drift sample package\n"
        ).encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: drift-upstream\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = packages / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            archive.writestr(info, data)
    _write_simple_index(root)
    return wheel


def publish_wheels(index_dir: str | os.PathLike[str], wheels: list[Path]) -> list[Path]:
    """Copy existing wheel files (e.g. a `pip download` of real dependencies) into the simple index under `index_dir`.

    A mirror of what a Dockerfile installs from PyPI, served on 127.0.0.1 for
    builds that cannot reach the real index.
    """
    packages = Path(index_dir) / "packages"
    packages.mkdir(parents=True, exist_ok=True)
    published = []
    for wheel in wheels:
        if not wheel.name.endswith(".whl"):
            raise ValueError(f"{wheel}: not a wheel file")
        target = packages / wheel.name
        _write_atomic(target, wheel.read_bytes())
        published.append(target)
    _write_simple_index(Path(index_dir))
    return published


def _write_simple_index(root: Path) -> None:
    """The PEP 503 pages (simple/ and simple/<project>/) for every wheel under root/packages."""
    by_project: dict[str, list[Path]] = {}
    for wheel in sorted((root / "packages").glob("*.whl")):
        by_project.setdefault(_normalize(wheel.name.split("-")[0]), []).append(wheel)
    for project, wheels in by_project.items():
        links = "".join(f'<a href="../../packages/{w.name}">{w.name}</a><br>\n' for w in wheels)
        page = f"<!DOCTYPE html><html><body>\n{links}</body></html>\n"
        _write_atomic(root / "simple" / project / "index.html", page.encode())
    listing = "".join(f'<a href="{p}/">{p}</a><br>\n' for p in sorted(by_project))
    _write_atomic(root / "simple" / "index.html", f"<!DOCTYPE html><html><body>\n{listing}</body></html>\n".encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve a directory on 127.0.0.1 until interrupted")
    p.add_argument("--dir", required=True, type=Path)
    p.add_argument("--port", type=int, default=0, help="0 (default): any free port")

    p = sub.add_parser("publish-file", help="atomically write a file under a directory")
    p.add_argument("--dir", required=True, type=Path)
    p.add_argument("--path", required=True, help="path relative to --dir")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--content", help="text to write (default: read stdin)")
    src.add_argument("--from-file", type=Path, help="copy this file's bytes")

    p = sub.add_parser("publish-wheel", help="build a wheel into a PEP 503 simple index")
    p.add_argument("--index", required=True, type=Path)
    p.add_argument("--name", required=True)
    p.add_argument("--version", required=True)

    p = sub.add_parser("publish-wheels", help="copy wheel files into a PEP 503 simple index")
    p.add_argument("--index", required=True, type=Path)
    p.add_argument("--from-dir", required=True, type=Path, help="a directory of .whl files")

    p = sub.add_parser("publish-deb", help="build a .deb into a flat apt repository")
    p.add_argument("--repo", required=True, type=Path)
    p.add_argument("--name", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--arch", default="all")

    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            server = serve(args.dir, args.port)
            print(f"serving {server.directory} at {server.url}", flush=True)
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
            server.close()
        elif args.command == "publish-file":
            if args.from_file is not None:
                data = args.from_file.read_bytes()
            elif args.content is not None:
                data = args.content.encode()
            else:
                data = sys.stdin.buffer.read()
            print(publish_file(args.dir, args.path, data))
        elif args.command == "publish-wheel":
            print(publish_wheel(args.index, args.name, args.version))
        elif args.command == "publish-wheels":
            wheels = sorted(args.from_dir.glob("*.whl"))
            if not wheels:
                raise ValueError(f"{args.from_dir}: no .whl files")
            print(f"{len(publish_wheels(args.index, wheels))} wheels published")
        else:
            print(publish_deb(args.repo, args.name, args.version, arch=args.arch))
    except (OSError, ValueError, RuntimeError) as e:
        print(f"upstream: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
