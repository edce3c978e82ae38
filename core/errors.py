"""signalstack's own errors: one root, so that a caller (the CLI, the server) can tell a user's mistake from a bug.

Everything raised on purpose, because a file, a flag, a message or a setting cannot be used, is a
`SignalstackError`: its message names the bad value and what was expected, and the CLI prints it as
one line. Any other exception escaping a command is a bug, reported as one (`signalstack.cli`).
"""

from __future__ import annotations


class SignalstackError(Exception):
    """A failure a user can fix: the message names the bad value and what was expected."""


class InvalidInput(SignalstackError, ValueError):
    """A request the model cannot answer; the message says what was wrong and what was expected."""


class LimitExceeded(SignalstackError, ValueError):
    """A request over one of the server's limits; the message names the limit."""


class SettingsError(SignalstackError, ValueError):
    """Settings that cannot be used (a file's key, a flag, a keyword): the message names each bad value by its
    path and says what was expected."""


class NotFound(SignalstackError, FileNotFoundError, KeyError, ValueError):
    """A file, model or name the user gave that does not exist: the message names it and says what was expected.

    Also a FileNotFoundError, a KeyError and a ValueError, the classes these failures were raised as before, so
    that existing `except` clauses still catch it.
    """
