"""Answers: an object through its output serializer, and absolute links."""

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer


def render(
    request: Request,
    serializer_class: type[BaseSerializer[Any]],
    obj: Any,
    code: int = status.HTTP_200_OK,
) -> Response:
    return Response(
        serializer_class(obj, context={"request": request}).data, status=code
    )


def absolute(request: HttpRequest, name: str, *args: Any) -> str:
    return request.build_absolute_uri(reverse(name, args=args))
