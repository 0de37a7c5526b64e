"""`python -m liveops` is the `liveops` command."""

from liveops.cli import run

run()
