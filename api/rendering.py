"""Answers: an object through its output serializer, and absolute links."""

from django.urls import reverse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response


def render(
    request: Request, serializer_class, obj, code: int = status.HTTP_200_OK
) -> Response:
    return Response(
        serializer_class(obj, context={"request": request}).data, status=code
    )


def absolute(request, name: str, *args) -> str:
    return request.build_absolute_uri(reverse(name, args=args))
