"""`python -m liveops` is the `liveops` command."""

from liveops.launch import run

run()
