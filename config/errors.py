"""Domain errors raised by services; the API and the views turn them into answers."""


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
