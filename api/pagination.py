"""The one pagination of the API's lists: `?page=` and `?page_size=`."""

from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class ListPagination(PageNumberPagination):
    """Every list in the API (`paginated`): `?page=`, `?page_size=`."""

    page_size_query_param = "page_size"
    max_page_size = 500


def paginated(view: APIView, request: Request, queryset, serializer_class) -> Response:
    paginator = ListPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer_class(page, many=True, context={"request": request}).data
    return paginator.get_paginated_response(data)
