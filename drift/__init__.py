"""drift: a nightly reproducibility checker for container image builds."""

__version__ = "0.1.0"
