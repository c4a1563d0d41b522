"""The command line: the only part of jaki that prints, prompts or exits."""

import sys


def run() -> None:
    """The ``jaki`` console script. Ctrl-C while the app and a command's libraries load ends as it does later in a
    command (click's ``Aborted!``, exit 1), not with a ``KeyboardInterrupt`` traceback."""
    try:
        from jaki.cli.main import app

        app()
    except KeyboardInterrupt:
        print("\nAborted!", file=sys.stderr)
        sys.exit(1)
