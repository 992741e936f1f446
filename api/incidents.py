"""The incident in the URL, for API views (in the spirit of Sentry's
`ProjectEndpoint.convert_args`): resolved and checked once, before any handler runs.

    class NoteListApi(IncidentApi):
        def get(self, request: Request, incident: Incident) -> Response: ...

For a request to `.../incidents/<reference>/...` an `IncidentApi` does, in order:

1. authenticate the caller and check the token's scope (DRF's `initial`, with the
   project's default permission classes: 401, then 403), as every API view does;
2. resolve `reference` through `incident_get_for_user`: an incident the caller may
   not see answers 404, exactly like one that does not exist;
3. run the handler's role check, if the view declares one in `role_checks` (403);
4. call the handler with `incident=` in place of `reference=`.

A method the view does not handle (405) and OPTIONS are answered as by any API view,
without looking the incident up.
"""

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, cast

from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.models import User
from incidents.models import Incident
from incidents.selectors import incident_get_for_user

RoleCheck = Callable[[User], None]


def incident_or_404(request: Request, reference: str) -> Incident:
    """The incident `reference` as the caller sees it; 404 if missing or hidden.
    For a reference given in a body; one in the URL goes through `IncidentApi`."""
    # Only authenticated callers get here (the default permission classes); the
    # stubs type `request.user` with AnonymousUser as well.
    incident = incident_get_for_user(cast(User, request.user), reference)
    if incident is None:
        raise NotFound()
    return incident


class IncidentApi(APIView):
    # An API view of a URL with an incident `reference` (see the module). No
    # docstring on purpose: the schema would show it on every operation that has
    # none of its own.

    #: Per handler name ("get", "post", "head", ...): the role the handler needs
    #: beyond seeing the incident, as a function of the user that raises
    #: `NotAllowed` (403). Run after the lookup: a hidden incident answers 404
    #: whatever the role. HEAD served by `get` takes the check of "get".
    role_checks: ClassVar[Mapping[str, RoleCheck]] = {}

    def get_incident(self, request: Request, reference: str) -> Incident:
        """The hook for a view that needs another lookup (another selector, a row
        lock): it must still answer 404 for what the caller may not see."""
        return incident_or_404(request, reference)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        handler = self._handler(request)
        if handler is None:
            return
        incident = self.get_incident(request, self.kwargs.pop("reference"))
        check = self.role_checks.get(handler.__name__)
        if check is not None:
            check(cast(User, request.user))  # authenticated by `super().initial`
        # DRF calls the handler with the very dict it keeps as `self.kwargs`.
        self.kwargs["incident"] = incident

    def _handler(self, request: Request) -> Callable[..., Any] | None:
        method = (request.method or "").lower()  # always set on a dispatched request
        if method == "options" or method not in self.http_method_names:
            return None
        return getattr(self, method, None)
