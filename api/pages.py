"""The incident in the URL, for browser pages, and how pages report refusals.

    @incident_page
    def incident_detail(request: HttpRequest, incident: Incident) -> HttpResponse: ...

`incident_page` does, in order: sign-in (`login_required`: a redirect to the sign-in
page), the allowed methods (405), the lookup through `incident_get_for_user` (404
for a hidden incident, exactly like a missing one), the page's role check (a refused
role is a 404 too: pages do not exist for who may not open them), and then calls the
view with `incident` in place of `reference`.
"""

from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.forms import BaseForm
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from accounts.models import User
from config.errors import DomainError, NotAllowed
from incidents.selectors import incident_get_for_user

PageView = Callable[..., HttpResponse]


def incident_page(
    view: PageView | None = None,
    /,
    *,
    methods: Sequence[str] | None = None,
    role: Callable[[User], None] | None = None,
) -> Any:
    """Decorate a page of a URL with an incident `reference` (see the module).

    `methods` restricts the HTTP methods (["POST"] for a form's target); `role` is a
    function of the user that raises `NotAllowed`, as the API's `role_checks`.
    """

    def decorate(view: PageView) -> PageView:
        @wraps(view)
        def page(
            request: HttpRequest, reference: str, *args: Any, **kwargs: Any
        ) -> HttpResponse:
            # Behind `login_required` (below): the user is signed in, though the
            # stubs type `request.user` with AnonymousUser as well.
            user = cast(User, request.user)
            incident = incident_get_for_user(user, reference)
            if incident is None:
                raise Http404
            if role is not None:
                try:
                    role(user)
                except NotAllowed as refusal:
                    raise Http404(refusal.detail) from None
            return view(request, incident, *args, **kwargs)

        # Read by the test that every URL with a reference goes through here; the
        # decorators below copy it onto their wrappers.
        page.incident_page = True  # type: ignore[attr-defined]
        if methods is not None:
            page = require_http_methods(list(methods))(page)
        return login_required(page)

    return decorate if view is None else decorate(view)


def form_errors(form: BaseForm) -> str:
    """A form's errors as one message line."""
    return "; ".join(
        f"{'' if field == '__all__' else field + ': '}{' '.join(map(str, errors))}"
        for field, errors in form.errors.items()
    )


def run(request: HttpRequest, action: Callable[[], Any], success: str) -> bool:
    """Call a service; report a domain error as a message instead of a failure page."""
    try:
        action()
    except DomainError as error:
        messages.error(request, error.detail)
        return False
    messages.success(request, success)
    return True
