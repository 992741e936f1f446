"""Domain errors raised by services; the API and the views turn them into answers."""

import errno


class DomainError(Exception):
    status_code = 400

    def __init__(self, detail: str, errors: list[dict] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class InvalidInput(DomainError):
    """The request is well-formed but a value is not acceptable (400)."""

    status_code = 400

    @classmethod
    def for_field(cls, field: str, message: str) -> "InvalidInput":
        return cls(message, [{"field": field, "message": message}])


class NotAllowed(DomainError):
    """The caller may see the object but their role may not do this (403)."""

    status_code = 403


class Conflict(DomainError):
    """The object's state forbids the change (409); nothing was changed."""

    status_code = 409


class ServiceUnavailable(DomainError):
    """A service the request depends on does not answer (503, with Retry-After);
    nothing was stored, and the same request can be sent again."""

    status_code = 503


class InsufficientStorage(DomainError):
    """The disk (or quota) holding received bytes is full (507); nothing was kept."""

    status_code = 507
    # errno values meaning "no room left", whichever file the bytes were going to.
    ERRNOS = (errno.ENOSPC, errno.EDQUOT)

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            detail
            or "The server has no space left to store this; nothing was stored. "
            "Send it again once space has been freed."
        )
