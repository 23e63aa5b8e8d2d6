"""Alerts people trust: one per event, none lost when the receiver is down, never twice; email that reads well."""

from __future__ import annotations

import json
import socket
import time
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import cast

import pytest
import upstream
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from conftest import Drift, MakeRepo, UpstreamServer
from pytest_httpserver import HTTPServer

pytestmark = pytest.mark.usefixtures("docker_engine")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def track_download(drift: Drift, make_repo: MakeRepo, server: UpstreamServer, route: str) -> None:
    drift.track(
        "download",
        make_repo("latest-download"),
        "--network",
        "host",
        "--build-arg",
        f"UPSTREAM_URL={server.url}/tool/latest.txt",
        "--alert",
        route,
    )


def test_one_alert_per_event_and_one_recovery(
    drift: Drift, make_repo: MakeRepo, upstream_server: UpstreamServer
) -> None:
    receiver = HTTPServer(host="127.0.0.1", port=free_port())
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    receiver.start()
    try:
        upstream.publish_file(upstream_server.root, "tool/latest.txt", b"tool 1.0\n")
        track_download(drift, make_repo, upstream_server, f"json://127.0.0.1:{receiver.port}/hook")
        assert drift("run", "--min-free", "0").code == 0  # baseline: nothing to say
        assert receiver.log == []

        upstream.publish_file(upstream_server.root, "tool/latest.txt", b"tool 1.1\n")
        for _ in range(3):  # drifted three nights running
            assert drift("run", "--min-free", "0").code == 1
        assert len(receiver.log) == 1
        payload = json.loads(receiver.log[0][0].get_data())
        assert "download drifted" in payload["title"]
        assert "/opt/tool/latest.txt" in payload["message"] and "cause network-fetch" in payload["message"]
        assert "layer 1" in payload["message"]

        assert drift("accept", "download").code == 0
        assert drift("run", "--min-free", "0").code == 0  # reproducible again
        assert len(receiver.log) == 2
        recovered = json.loads(receiver.log[1][0].get_data())
        assert "reproducible again" in recovered["title"]
        listing = drift("alerts", "list", "--format", "json").json()["alerts"]
        assert [(a["event"], a["status"]) for a in listing] == [("drifted", "sent"), ("recovered", "sent")]
    finally:
        receiver.clear()
        receiver.stop()


def test_alert_waits_in_the_outbox_while_the_receiver_is_down(
    drift: Drift, make_repo: MakeRepo, upstream_server: UpstreamServer
) -> None:
    port = free_port()
    upstream.publish_file(upstream_server.root, "tool/latest.txt", b"tool 1.0\n")
    track_download(drift, make_repo, upstream_server, f"json://127.0.0.1:{port}/hook")
    assert drift("run", "--min-free", "0").code == 0
    upstream.publish_file(upstream_server.root, "tool/latest.txt", b"tool 1.1\n")

    down = drift("run", "--min-free", "0")  # nobody listens on the port
    assert down.code == 1
    assert "drifted alert not delivered" in down.stderr and "retried next run" in down.stderr
    pending = drift("alerts", "list", "--pending", "--format", "json").json()["alerts"]
    assert [(a["event"], a["status"], a["attempts"]) for a in pending] == [("drifted", "pending", 1)]

    receiver = HTTPServer(host="127.0.0.1", port=port)
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    receiver.start()
    try:
        assert drift("run", "--min-free", "0").code == 1  # still drifted: no new event, the old one is delivered
        assert drift("run", "--min-free", "0").code == 1
        assert len(receiver.log) == 1
        assert "download drifted" in json.loads(receiver.log[0][0].get_data())["title"]
    finally:
        receiver.clear()
        receiver.stop()


class _Sink:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(cast(bytes, envelope.content))  # bytes: the Controller does not decode_data
        return "250 OK"


def test_email_route_delivers_a_readable_alert(
    drift: Drift, make_repo: MakeRepo, upstream_server: UpstreamServer
) -> None:
    sink = _Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        upstream.publish_file(upstream_server.root, "tool/latest.txt", b"tool 1.0\n")
        route = f"mailto://127.0.0.1:{port}?from=drift@example.com&to=platform@example.com&mode=insecure"
        track_download(drift, make_repo, upstream_server, route)
        assert drift("run", "--min-free", "0").code == 0
        upstream.publish_file(upstream_server.root, "tool/latest.txt", b"tool 1.1\n")
        assert drift("run", "--min-free", "0").code == 1
        deadline = time.time() + 10
        while not sink.messages and time.time() < deadline:
            time.sleep(0.1)
        [raw] = sink.messages
        mail = message_from_bytes(raw)
        assert "download drifted" in mail["Subject"]
        assert mail["To"].endswith("platform@example.com>") or "platform@example.com" in mail["To"]
        part = (
            mail.get_payload(decode=True)
            if not mail.is_multipart()
            else cast("list[Message]", mail.get_payload())[0].get_payload(decode=True)
        )
        text = cast(bytes, part).decode()  # get_payload(decode=True) of a part that is not multipart
        assert "/opt/tool/latest.txt" in text and "cause network-fetch" in text and "drift show" in text
    finally:
        controller.stop()


def test_alerts_test_command(drift: Drift) -> None:
    receiver = HTTPServer(host="127.0.0.1", port=free_port())
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    receiver.start()
    try:
        ok = drift("alerts", "test", f"json://127.0.0.1:{receiver.port}/hook")
        assert ok.code == 0 and "sent a test message" in ok.stdout
        assert "test alert" in json.loads(receiver.log[0][0].get_data())["title"]
    finally:
        receiver.clear()
        receiver.stop()
    down = drift("alerts", "test", f"json://127.0.0.1:{free_port()}/hook")
    assert down.code == 2 and down.stderr.count("\n") == 1


def test_github_step_summary_and_annotations(
    drift: Drift, make_repo: MakeRepo, upstream_server: UpstreamServer, tmp_path: Path
) -> None:
    upstream.publish_file(upstream_server.root, "tool/latest.txt", b"tool 1.0\n")
    repo = make_repo("latest-download")
    drift.track(
        "download", repo, "--network", "host", "--build-arg", f"UPSTREAM_URL={upstream_server.url}/tool/latest.txt"
    )
    summary = tmp_path / "step-summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    assert drift("run", "--min-free", "0", env=env).code == 0
    upstream.publish_file(upstream_server.root, "tool/latest.txt", b"tool 1.1\n")
    run = drift("run", "--min-free", "0", "--annotations", "github", env=env)
    assert run.code == 1
    [warning] = [line for line in run.stdout.splitlines() if line.startswith("::warning ")]
    assert warning.startswith("::warning title=drift: download drifted::")
    assert "/opt/tool/latest.txt" in warning
    text = summary.read_text()
    assert text.count("download") >= 2  # one report per run, appended
    assert "drifted" in text and "/opt/tool/latest.txt" in text
