"""Alert API (contract: "Alerts (from detection tools)" in shared/API.md), plus the
triage acts as an extension: promote, merge, dismiss.

Scopes: posting an alert needs `ingest` (a `write` token includes it); reading alerts
takes `read` or `ingest`, so a detection tool can poll what it posted; the triage acts
need `write` and a case-editing role.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.incidents import incident_or_404
from api.pagination import paginated
from api.rendering import render
from incidents import alert_selectors, alerts, services
from incidents import alert_serializers as s
from incidents.models import Alert


def alert_or_404(request: Request, pk: int) -> Alert:
    alert = alert_selectors.alert_get_for_user(request.user, pk)
    if alert is None:
        raise NotFound()
    return alert


class AlertListApi(APIView):
    required_scope = "ingest"
    read_scopes = {"read", "ingest"}

    @extend_schema(responses=s.AlertOutput(many=True))
    def get(self, request: Request) -> Response:
        queryset = alert_selectors.alert_list_for_user(
            request.user,
            status=request.query_params.get("status"),
            source=request.query_params.get("source"),
        )
        return paginated(self, request, queryset, s.AlertOutput)

    @extend_schema(
        request=s.AlertInput, responses={201: s.AlertOutput, 200: s.AlertOutput}
    )
    def post(self, request: Request) -> Response:
        data = s.AlertInput.validated(request.data)
        reference = data.pop("incident", None)
        # A given incident the caller cannot see answers 404, like a missing one.
        incident = incident_or_404(request, reference) if reference else None
        alert, created = alerts.alert_receive(
            by=request.user, incident=incident, **data
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return render(request, s.AlertOutput, alert, code)


class AlertDetailApi(APIView):
    read_scopes = {"read", "ingest"}

    @extend_schema(responses=s.AlertOutput)
    def get(self, request: Request, pk: int) -> Response:
        return render(request, s.AlertOutput, alert_or_404(request, pk))


class AlertPromoteApi(APIView):
    @extend_schema(request=None, responses=s.AlertOutput)
    def post(self, request: Request, pk: int) -> Response:
        alert = alerts.alert_promote(alert=alert_or_404(request, pk), by=request.user)
        return render(request, s.AlertOutput, alert)


class AlertMergeApi(APIView):
    @extend_schema(request=s.AlertMergeInput, responses=s.AlertOutput)
    def post(self, request: Request, pk: int) -> Response:
        alert = alert_or_404(request, pk)
        # The role first: a 404 for the target would hide that the role is wrong.
        services.require_case_editor(request.user)
        data = s.AlertMergeInput.validated(request.data)
        into = incident_or_404(request, data["incident"].strip())
        alert = alerts.alert_merge(alert=alert, by=request.user, into=into)
        return render(request, s.AlertOutput, alert)


class AlertDismissApi(APIView):
    @extend_schema(request=s.AlertDismissInput, responses=s.AlertOutput)
    def post(self, request: Request, pk: int) -> Response:
        alert = alert_or_404(request, pk)
        data = s.AlertDismissInput.validated(request.data)
        alert = alerts.alert_dismiss(alert=alert, by=request.user, **data)
        return render(request, s.AlertOutput, alert)
