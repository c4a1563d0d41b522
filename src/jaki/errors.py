"""The one exception for bad user input.

Library code raises ``JakiInputError`` with a single line that names the input, what is wrong with it and what
was expected; the CLI turns it into ``error: …`` on stderr and exit code 2. Anything else is a bug and keeps
its traceback.
"""


class JakiInputError(Exception):
    """Bad user input (a file, a grid, a target, an option value): one line, shown as is."""
