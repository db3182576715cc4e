"""Matrix errors: one class per errcode, raised anywhere, rendered only by the middleware."""

from __future__ import annotations

from typing import Any, ClassVar


class MatrixError(Exception):
    status: ClassVar[int] = 400
    errcode: ClassVar[str] = "M_UNKNOWN"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        return {"errcode": self.errcode, "error": self.message, **self.extra}


class Forbidden(MatrixError):
    status, errcode = 403, "M_FORBIDDEN"


class Unknown(MatrixError):
    status, errcode = 400, "M_UNKNOWN"


class InternalError(MatrixError):
    status, errcode = 500, "M_UNKNOWN"


class MissingToken(MatrixError):
    status, errcode = 401, "M_MISSING_TOKEN"


class UnknownToken(MatrixError):
    status, errcode = 401, "M_UNKNOWN_TOKEN"


class NotJson(MatrixError):
    status, errcode = 400, "M_NOT_JSON"


class BadJson(MatrixError):
    status, errcode = 400, "M_BAD_JSON"


class MissingParam(MatrixError):
    status, errcode = 400, "M_MISSING_PARAM"


class InvalidParam(MatrixError):
    status, errcode = 400, "M_INVALID_PARAM"


class TooLarge(MatrixError):
    status, errcode = 413, "M_TOO_LARGE"


class NotFound(MatrixError):
    status, errcode = 404, "M_NOT_FOUND"


class Unrecognized(MatrixError):
    status, errcode = 404, "M_UNRECOGNIZED"


class MethodNotAllowed(MatrixError):
    status, errcode = 405, "M_UNRECOGNIZED"


class LimitExceeded(MatrixError):
    status, errcode = 429, "M_LIMIT_EXCEEDED"

    def __init__(self, retry_after_ms: int) -> None:
        super().__init__("Too many requests", retry_after_ms=retry_after_ms)
        self.retry_after_ms = retry_after_ms


class UserInUse(MatrixError):
    status, errcode = 400, "M_USER_IN_USE"


class InvalidUsername(MatrixError):
    status, errcode = 400, "M_INVALID_USERNAME"


class Exclusive(MatrixError):
    status, errcode = 400, "M_EXCLUSIVE"


class GuestAccessForbidden(MatrixError):
    status, errcode = 403, "M_GUEST_ACCESS_FORBIDDEN"


class UserDeactivated(MatrixError):
    status, errcode = 403, "M_USER_DEACTIVATED"


class WeakPassword(MatrixError):
    status, errcode = 400, "M_WEAK_PASSWORD"


class ThreepidDenied(MatrixError):
    status, errcode = 403, "M_THREEPID_DENIED"


class ThreepidMediumNotSupported(MatrixError):
    status, errcode = 400, "M_THREEPID_MEDIUM_NOT_SUPPORTED"


class ThreepidAuthFailed(MatrixError):
    status, errcode = 403, "M_THREEPID_AUTH_FAILED"


class RoomInUse(MatrixError):
    status, errcode = 400, "M_ROOM_IN_USE"


class InvalidRoomState(MatrixError):
    status, errcode = 400, "M_INVALID_ROOM_STATE"


class UnsupportedRoomVersion(MatrixError):
    status, errcode = 400, "M_UNSUPPORTED_ROOM_VERSION"


class DuplicateAnnotation(MatrixError):
    status, errcode = 400, "M_DUPLICATE_ANNOTATION"


class InvalidSignature(MatrixError):
    status, errcode = 400, "M_INVALID_SIGNATURE"


class WrongRoomKeysVersion(MatrixError):
    """Carries `current_version`, the backup version keys may be written to."""

    status, errcode = 403, "M_WRONG_ROOM_KEYS_VERSION"


class AuthRequired(MatrixError):
    """User-Interactive Auth: 401 carrying the flows, session and completed stages."""

    status, errcode = 401, "M_UNAUTHORIZED"

    def __init__(self, body: dict[str, Any], failure: MatrixError | None = None) -> None:
        super().__init__(failure.message if failure else "Authentication required")
        self.body = body
        self.failure = failure

    def to_json(self) -> dict[str, Any]:
        if self.failure is None:
            return dict(self.body)
        return {**self.body, "errcode": self.failure.errcode, "error": self.failure.message}
