"""One exception type for every input a user can get wrong.

The CLI turns a :class:`BenchInputError` into one line on stderr and exit status 2, so every
module raises it with a message that names the bad value and what would have been valid.
"""


class BenchInputError(Exception):
    """Bad user input: unknown names, malformed files, unreachable addresses, bad numbers."""
