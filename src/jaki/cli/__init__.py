"""The command line: the only part of jaki that prints, prompts or exits."""

import sys

# What every command's --data takes (one wording for all of them).
DATASET_HELP = "Dataset (a .npz file or a shard folder) from 'jaki dataset build'"


def run() -> None:
    """The ``jaki`` console script. Ctrl-C while the app and a command's libraries load ends as it does later in a
    command (click's ``Aborted!``, exit 1), not with a ``KeyboardInterrupt`` traceback."""
    try:
        from jaki.cli.main import app

        app()
    except KeyboardInterrupt:
        print("\nAborted!", file=sys.stderr)
        sys.exit(1)
