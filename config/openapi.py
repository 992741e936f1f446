"""The OpenAPI document as the API really answers, for every operation at once.

drf-spectacular documents what a view declares: its success answer. But every
operation can also answer the contract's error body (400, 401, 403, 404, 409, 413,
415; 503 or 507 when the database, the job queue or the evidence store fails), and
the list operations answer a page of results, not a bare array. Both are added here
by rule, so a new view is documented right without repeating them."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import is_list_serializer
from rest_framework import serializers

from api.pagination import ListPagination


class ErrorItem(serializers.Serializer):
    field = serializers.CharField(
        allow_null=True, required=False, help_text='"a.b[0]", or null for the whole'
    )
    line = serializers.IntegerField(required=False, help_text="For line errors.")
    message = serializers.CharField()


class Error(serializers.Serializer):
    detail = serializers.CharField(help_text="One sentence naming the problem.")
    errors = ErrorItem(many=True)  # type: ignore[assignment]  # a field named errors; DRF moves fields off the class


ERRORS = {
    "400": "Bad input; `errors` names each field or line.",
    "401": "No valid credentials.",
    "403": "The token's scope or the caller's role does not allow this.",
    "404": "Not found, or not visible to the caller.",
    "409": "The object's state forbids this; nothing was changed.",
    "413": "The body is larger than the limit.",
    "415": "The body's media type is not accepted here.",
    "503": "The database or the job queue did not answer; nothing was stored. "
    "Retry after `Retry-After` seconds.",
    "507": "The evidence store is full; nothing was stored.",
}


class AutoSchema(SpectacularAutoSchema):
    def _get_paginator(self):
        declared = getattr(self.view, "pagination_class", None)
        if declared:
            return declared()
        if self.method == "GET" and is_list_serializer(self._declared_response()):
            return ListPagination()
        return None

    def _declared_response(self):
        declared = self.get_response_serializers()
        if isinstance(declared, dict):
            declared = declared.get(200, declared.get("200"))
        return declared

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            responses.setdefault(
                code,
                {
                    "content": {
                        "application/json": {
                            "schema": self.resolve_serializer(Error, direction).ref
                        }
                    },
                    "description": ERRORS[code],
                },
            )
        return responses

    def _error_codes(self) -> list[str]:
        # 400 everywhere: a NUL character or a bad filter in any query is bad input.
        codes = ["400", "401", "403", "404"]
        # A read answers 409 only where the object's state can refuse it (a download
        # of bytes that no longer match their receipt, a dossier not yet rendered).
        if self.method != "GET" or getattr(self.view, "read_may_conflict", False):
            codes.append("409")
        if self.method in ("POST", "PUT", "PATCH"):
            codes.append("415")
            if any(media != "application/json" for media in self._body_media_types()):
                codes.append("413")  # uploads and query logs have a size limit
                codes.append("507")  # and are written to the evidence store
        # Any operation: a lost database connection answers "try again".
        codes.append("503")
        return codes

    def _body_media_types(self) -> list[str]:
        declared = self.get_request_serializer()
        if isinstance(declared, dict):
            return [str(key) for key in declared]
        return self.map_parsers()
