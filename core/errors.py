"""The errors a caller can cause: the server turns them into status codes, the CLI into one line."""

from __future__ import annotations


class InvalidInput(ValueError):
    """A request the model cannot answer; the message says what was wrong and what was expected."""


class LimitExceeded(ValueError):
    """A request over one of the server's limits; the message names the limit."""
