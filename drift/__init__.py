"""drift: a nightly reproducibility checker for container image builds."""

__version__ = "0.2.0"
