"""Refuse U+0000 in URLs, query strings and form fields before any view sees it:
PostgreSQL cannot store or even compare it in text, so it would surface as a 500."""

from django.http import HttpResponseBadRequest, JsonResponse

FORM = "application/x-www-form-urlencoded"


class RejectNullBytesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._has_null(request):
            detail = (
                "The request contains a NUL character (U+0000), which is not accepted."
            )
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": detail, "errors": []}, status=400)
            return HttpResponseBadRequest(detail)
        return self.get_response(request)

    @staticmethod
    def _has_null(request) -> bool:
        if "\x00" in request.path:
            return True
        pairs = list(request.GET.lists())
        if request.method == "POST" and request.content_type == FORM:
            pairs += list(request.POST.lists())  # small forms only; never uploads
        return any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in pairs
        )
