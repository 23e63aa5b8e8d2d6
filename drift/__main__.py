"""`python -m drift` runs the command line."""

from drift.cli import main

main()
