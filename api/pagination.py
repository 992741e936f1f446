"""The one pagination of the API's lists: `?page=` and `?page_size=`."""

from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView


class ListPagination(PageNumberPagination):
    """Every list in the API (`paginated`): `?page=`, `?page_size=`."""

    page_size_query_param = "page_size"
    max_page_size = 500


def paginated(
    view: APIView,
    request: Request,
    queryset: QuerySet[Any] | Sequence[Any],
    serializer_class: type[BaseSerializer[Any]],
) -> Response:
    paginator = ListPagination()
    page: list[Any] | None = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer_class(page, many=True, context={"request": request}).data
    return paginator.get_paginated_response(data)
