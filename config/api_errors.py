"""One exception handler: every API error answers the contract's body,
`{"detail": "<one sentence>", "errors": [{"field"|"line": ..., "message": ...}]}`."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.errors import DomainError, InsufficientStorage

logger = logging.getLogger(__name__)
# Seconds a client should wait before retrying after a transient server-side failure.
RETRY_AFTER = "5"


def _flatten(detail, prefix: str = "") -> list[dict]:
    """Turn DRF's nested error dict/list into [{"field": "a.b[0]", "message": ...}]."""
    if isinstance(detail, dict):
        errors = []
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            field = f"{prefix}.{name}" if prefix and name else (prefix or name)
            if isinstance(key, int):  # DRF keys a list's item errors by index
                field = f"{prefix}[{key}]"
            errors.extend(_flatten(value, field))
        return errors
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [{"field": prefix or None, "message": str(item)} for item in detail]
        errors = []
        for index, item in enumerate(detail):
            errors.extend(_flatten(item, f"{prefix}[{index}]"))
        return errors
    return [{"field": prefix or None, "message": str(detail)}]


def _body(detail: str, errors: list[dict] | None = None) -> dict:
    return {"detail": detail, "errors": errors or []}


def api_exception_handler(exc, context):
    if isinstance(exc, OSError) and exc.errno in InsufficientStorage.ERRNOS:
        # A temporary file (a query-log spool, an upload being received) filled the
        # disk; it is deleted as the request ends, and nothing else was kept.
        logger.error("No space left during %s", context["request"].path, exc_info=exc)
        exc = InsufficientStorage()
    if isinstance(exc, DomainError):
        answer = Response(_body(exc.detail, exc.errors), status=exc.status_code)
        if exc.status_code == 503:
            answer["Retry-After"] = RETRY_AFTER
        return answer
    if isinstance(exc, DataError):
        # Last line of defence: a value the database refuses (e.g. U+0000 inside a
        # JSON object on PostgreSQL) is bad input, and its transaction rolled back.
        reason = str(exc).splitlines()[0] if str(exc) else "value out of range"
        return Response(_body(f"A value could not be stored: {reason}."), status=400)
    if isinstance(exc, OperationalError | InterfaceError):
        # The database went away or gave up mid-request (a terminated connection, a
        # restart, a deadlock victim). Its transaction rolled back, so a retry (with
        # the same Idempotency-Key where there is one) is safe: 503, not a 500.
        logger.warning(
            "Database unavailable during %s", context["request"].path, exc_info=exc
        )
        unavailable = Response(
            _body(
                "The database was unavailable and the request was not completed; try again."
            ),
            status=503,
        )
        unavailable["Retry-After"] = RETRY_AFTER
        return unavailable
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=exc.messages)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        first = errors[0] if errors else None
        if first and first["field"]:
            detail = f"Invalid input: {first['field']}: {first['message']}"
        elif first:
            detail = f"Invalid input: {first['message']}"
        else:
            detail = "Invalid input."
        response.data = _body(detail, errors)
    else:
        message = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        response.data = _body(str(message))
    return response


def json_not_found(request, exception=None):
    return JsonResponse(_body("Not found."), status=status.HTTP_404_NOT_FOUND)


def json_server_error(request):
    return JsonResponse(_body("Internal server error."), status=500)
