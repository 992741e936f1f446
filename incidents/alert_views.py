"""The alerts queue in the browser. Same selectors and services as the alert API."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from api.pages import form_errors, run
from config.errors import InvalidInput
from incidents import alert_selectors, alerts, forms, selectors, services
from incidents.models import Alert, Incident

ALL = "all"


def _alert_or_404(request: HttpRequest, pk: int) -> Alert:
    alert = alert_selectors.alert_get_for_user(request.user, pk)
    if alert is None:
        raise Http404
    return alert


def _back(request: HttpRequest) -> HttpResponse:
    """Back to the queue with the filters the act was made under."""
    query = QueryDict(request.POST.get("query", "")).urlencode()
    return redirect(reverse("incidents:alerts") + (f"?{query}" if query else ""))


@login_required
def alert_queue(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "").strip() or Alert.Status.NEW
    source = request.GET.get("source", "").strip()
    queryset = alert_selectors.alert_list_for_user(
        request.user, status=None if status == ALL else status, source=source or None
    )
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "incidents/alert_list.html",
        {
            "page": page,
            "filters": {"status": status, "source": source},
            "query": query.urlencode(),
            "statuses": Alert.Status.choices,
            "status_counts": alert_selectors.alert_status_counts_for_user(request.user),
            "sources": alert_selectors.alert_sources_for_user(request.user),
            "can_edit": request.user.can_edit_cases,
        },
    )


@login_required
@require_POST
def alert_promote(request: HttpRequest, pk: int) -> HttpResponse:
    alert = _alert_or_404(request, pk)
    run(
        request,
        lambda: alerts.alert_promote(alert=alert, by=request.user),
        f"Promoted the alert; {alert.incident.reference} is under investigation.",
    )
    return _back(request)


@login_required
@require_POST
def alert_merge(request: HttpRequest, pk: int) -> HttpResponse:
    alert = _alert_or_404(request, pk)
    form = forms.AlertMergeForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return _back(request)
    reference = form.cleaned_data["incident"].strip().upper()
    into: Incident | None = selectors.incident_get_for_user(request.user, reference)

    def merge():
        services.require_case_editor(request.user)
        if into is None:
            raise InvalidInput(f"There is no incident {reference} that you can see.")
        alerts.alert_merge(alert=alert, by=request.user, into=into)

    run(request, merge, f"Merged the alert into {reference}.")
    return _back(request)
    run(
        request,
        lambda: alerts.alert_merge(alert=alert, by=request.user, into=into),
        f"Merged the alert into {into.reference}.",
    )
    return _back(request)


@login_required
@require_POST
def alert_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    alert = _alert_or_404(request, pk)
    form = forms.AlertDismissForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return _back(request)
    run(
        request,
        lambda: alerts.alert_dismiss(alert=alert, by=request.user, **form.cleaned_data),
        "Dismissed the alert.",
    )
    return _back(request)
