"""User-Interactive Authentication (spec: "User-Interactive Authentication API").

A session is bound to the method and URI of the request that started it and, for
authenticated endpoints, to the user. Sessions live in the database and expire."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.auth.passwords import PasswordHasher
from homeserver.clock import now_ms
from homeserver.errors import AuthRequired, Forbidden, LimitExceeded, MatrixError, Unknown
from homeserver.ids import UserID, is_valid_user_id
from homeserver.ratelimit import RateLimiter
from homeserver.storage.registration_tokens import RegistrationTokenStore
from homeserver.storage.uia import UiaSession, UiaStore
from homeserver.storage.users import UserStore

DUMMY = "m.login.dummy"
PASSWORD = "m.login.password"
REGISTRATION_TOKEN = "m.login.registration_token"
SESSION_LIFETIME_MS = 30 * 60 * 1000
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what secrets.token_urlsafe gives


@dataclass(frozen=True)
class UiaResult:
    session_id: str
    completed: tuple[str, ...]
    registration_token: str | None


class UserInteractiveAuth:
    def __init__(
        self,
        store: UiaStore,
        users: UserStore,
        passwords: PasswordHasher,
        registration_tokens: RegistrationTokenStore,
        rate_limiter: RateLimiter,
        server_name: str,
    ) -> None:
        self._store = store
        self._users = users
        self._passwords = passwords
        self._tokens = registration_tokens
        self._limiter = rate_limiter
        self._server_name = server_name

    async def authenticate(
        self,
        *,
        method: str,
        uri: str,
        body: Mapping[str, Any],
        flows: Sequence[Sequence[str]],
        user_id: UserID | None = None,
    ) -> UiaResult:
        """Return once a flow is complete; otherwise raise AuthRequired (401) with the state."""
        auth = body.get("auth")
        if auth is not None and not isinstance(auth, dict):
            raise Unknown("'auth' must be an object")
        now = now_ms()
        session_id = auth.get("session") if auth else None
        if session_id is None:
            session = UiaSession(secrets.token_urlsafe(18), now, method, uri, user_id, (), None)
            await self._store.create(session)
        else:
            session = await self._load(session_id, method, uri, user_id, now)
        if not auth or "type" not in auth:
            raise AuthRequired(self._state(session, flows))
        stage = auth["type"]
        try:
            token = await self._run_stage(stage, auth, flows, user_id)
        except LimitExceeded:
            raise  # a 429 with Retry-After, as everywhere else, not a failed stage
        except MatrixError as failure:
            raise AuthRequired(self._state(session, flows), failure) from None
        await self._store.mark_completed(session.session_id, stage, token)
        completed = (*session.completed, stage) if stage not in session.completed else session.completed
        if not any(set(flow) <= set(completed) for flow in flows):
            raise AuthRequired(self._state(session, flows, completed))
        return UiaResult(session.session_id, completed, token or session.registration_token)

    async def finish(self, session_id: str) -> None:
        """Forget a session once the operation it authorised is done, so it cannot be replayed."""
        await self._store.delete(session_id)

    async def _load(
        self, session_id: Any, method: str, uri: str, user_id: UserID | None, now: int
    ) -> UiaSession:
        known_shape = isinstance(session_id, str) and SESSION_ID.fullmatch(session_id)
        session = await self._store.get(session_id) if known_shape else None
        if session is None or now - session.created_ts > SESSION_LIFETIME_MS:
            raise Unknown("Unknown or expired UIA session")
        if session.method != method or session.uri != uri or session.user_id != user_id:
            raise Forbidden("Requested operation has changed during the UI authentication session")
        return session

    async def _run_stage(
        self, stage: Any, auth: Mapping[str, Any], flows: Sequence[Sequence[str]], user_id: UserID | None
    ) -> str | None:
        if not isinstance(stage, str) or not any(stage in flow for flow in flows):
            raise Forbidden("Auth stage type not offered")
        if stage == DUMMY:
            return None
        if stage == PASSWORD:
            await self._check_password(auth, user_id)
            return None
        if stage == REGISTRATION_TOKEN:
            token = auth.get("token")
            registration = (
                await self._tokens.get(token) if isinstance(token, str) and len(token) <= 64 else None
            )
            if registration is None or not registration.valid_at(now_ms()):
                raise Forbidden("Invalid registration token")
            return registration.token
        raise Forbidden("Auth stage type not supported")

    async def _check_password(self, auth: Mapping[str, Any], user_id: UserID | None) -> None:
        if user_id is None:
            raise Forbidden("Password authentication needs a logged-in user")
        claimed = claimed_user(auth, self._server_name)
        password = auth.get("password")
        if claimed != user_id or not isinstance(password, str):
            raise Forbidden("Invalid username or password")
        self._limiter.check("failed_login", user_id, take=False)
        user = await self._users.get(user_id)
        if user is None or not await self._passwords.verify(user.password_hash, password):
            self._limiter.check("failed_login", user_id)
            raise Forbidden("Invalid username or password")

    @staticmethod
    def _state(
        session: UiaSession, flows: Sequence[Sequence[str]], completed: Sequence[str] | None = None
    ) -> dict[str, Any]:
        return {
            "session": session.session_id,
            "flows": [{"stages": list(flow)} for flow in flows],
            "params": {},
            "completed": list(session.completed if completed is None else completed),
        }


def claimed_user(body: Mapping[str, Any], server_name: str) -> UserID | None:
    """The user a login or password-UIA body names: `identifier` of type m.id.user, or the
    legacy top-level `user`. A bare localpart means a user of this server."""
    identifier = body.get("identifier")
    if isinstance(identifier, dict):
        if identifier.get("type") != "m.id.user":
            return None
        name = identifier.get("user")
    else:
        name = body.get("user")
    if not isinstance(name, str) or not name or len(name) > 255:
        return None
    if not name.startswith("@"):
        name = f"@{name.lower()}:{server_name}"
    elif name.endswith(":" + server_name):
        name = name.lower()
    return UserID(name) if is_valid_user_id(name, historical=True) else None
