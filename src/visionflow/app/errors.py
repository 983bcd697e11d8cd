"""Errors the web API answers with a status of their own (see web/API.md): everything else a
route raises is a visionflow `Error` (400) or a bug (500, logged, never a traceback to the
page)."""

from __future__ import annotations

from ..core.errors import Error


class NotFound(Error):
    """No such version, revision or route target: 404."""


class Conflict(Error):
    """The source moved on since the client's `base_revision`, or the app is read-only: 409.
    `current_revision` tells the client what to reload."""

    def __init__(self, message: str, current_revision: str | None = None):
        super().__init__(message)
        self.current_revision = current_revision


class Forbidden(Error):
    """Missing or wrong token, a Host header that is not this server: 403."""


class TooLarge(Error):
    """A request body over the limit: 413."""
