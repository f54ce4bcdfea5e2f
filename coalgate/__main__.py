"""``python -m coalgate`` is the ``coalgate`` command."""

from coalgate.cli import main

main()
