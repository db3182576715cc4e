"""The one error the auth rules raise (re-exported by `homeserver.auth.rules`)."""

from __future__ import annotations


class AuthError(Exception):
    """An event fails the authorization rules. `reason` is a short, stable message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
