"""Who runs a build or sends an alert: a process identity that survives PID reuse, and whether it still lives.

An owner is "host:pid:token", the token random per process. A PID alone is
not an identity: in a container every run may be PID 1, and after a reboot
PIDs come back. A process is known dead when it ran on this host and its PID
is gone; a live PID may belong to someone else by now, so then only a fresh
heartbeat proves the owner alive.
"""

from __future__ import annotations

import os
import secrets
import socket


def process_owner() -> str:
    """This process, as recorded on its leases, builds and alert claims."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"


def owner_alive(owner: str | None, me: str) -> bool | None:
    """True for this very process, False when the owner is surely dead, None when only a heartbeat can tell."""
    if not owner:
        return False
    if owner == me:
        return True
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    if pid_gone(int(pid_text)):
        return False
    return None  # the PID lives, but it may have been reused


def pid_gone(pid: int) -> bool:
    """Whether no process of this PID runs on this host (a live PID may still be someone else's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False
