"""The fetch ledger: what a build downloaded, recorded by drift's proxy while the build runs.

`RecordingProxy` is the proxy (drift.ledger.proxy); each request through it
becomes a `Fetch` (drift.ledger.fetch).
"""

from drift.ledger.fetch import Fetch
from drift.ledger.proxy import ProxyError, RecordingProxy

__all__ = ["Fetch", "ProxyError", "RecordingProxy"]
