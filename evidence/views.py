"""Browser pages for evidence and custody; uploads go to the API from the page's
script (progress bar, drag and drop), everything else posts here."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import User
from api.pages import form_errors, incident_page, run
from evidence import selectors
from evidence.forms import CustodyForm, LegalHoldForm, ReasonForm
from evidence.services.access import may_read_content, require_content_reader
from evidence.services.custody_jobs import (
    custody_bundle_is_large,
    custody_bundle_request,
    custody_is_large,
    custody_verification_request,
)
from evidence.services.items import custody_add, evidence_withdraw, legal_hold_change
from evidence.services.verification import custody_verify
from incidents.models import Incident


def _evidence_or_404(request: HttpRequest, pk: int):
    item = selectors.evidence_get_for_user(request.user, pk)
    if item is None:
        raise Http404
    return item


def _can_hold(user: User) -> bool:
    return user.is_admin or user.role == User.Role.COUNSEL


@incident_page
def evidence_tab(request: HttpRequest, incident: Incident) -> HttpResponse:
    items = list(selectors.evidence_list_for_user(request.user, incident))
    reads_content = may_read_content(request.user)
    return render(
        request,
        "evidence/evidence_list.html",
        {
            "incident": incident,
            "items": items,
            "can_edit": request.user.can_edit_cases,
            "can_hold": _can_hold(request.user),
            "hold_form": LegalHoldForm(
                initial={"action": "release" if incident.is_under_legal_hold else "set"}
            ),
            "verification": request.session.pop("verification", None),
            # Large cases verify and bundle as jobs: their latest ones, with progress.
            "verification_job": selectors.custody_verification_latest(incident)
            if reads_content
            else None,
            "bundle_job": selectors.custody_bundle_latest_for_user(
                request.user, incident
            )
            if reads_content
            else None,
            # Every visible item counted (an upper bound of what the bundle copies,
            # one query fewer per item): at worst the page offers a job and the
            # bundle view then builds it at once.
            "bundle_is_large": reads_content and custody_is_large(items=items),
            "checkpoint": selectors.checkpoint_latest(),
            "upload_limit": settings.EVIDENCE_MAX_UPLOAD_BYTES,
        },
    )


@incident_page(methods=["POST"], role=require_content_reader)
def verify_now(request: HttpRequest, incident: Incident) -> HttpResponse:
    if custody_is_large(items=incident.evidence.all()):
        job = custody_verification_request(incident=incident, by=request.user)
        messages.info(
            request,
            f"Verification {job.pk} runs in the background: this case is too large "
            "to re-hash while you wait. Its progress is shown below.",
        )
        return redirect("evidence:list", reference=incident.reference)
    report = custody_verify(incident=incident, by=request.user)
    request.session["verification"] = {
        "ok": report.ok,
        "checked": report.checked,
        "failures": [failure.as_dict() for failure in report.failures],
    }
    return redirect("evidence:list", reference=incident.reference)


@incident_page(methods=["POST"], role=require_content_reader)
def custody_bundle_start(request: HttpRequest, incident: Incident) -> HttpResponse:
    """Queue a custody bundle for a large case (the page then shows its progress and,
    when built, its download link); a small one is built by the API's GET at once."""
    items = list(selectors.evidence_list_for_user(request.user, incident))
    if not custody_bundle_is_large(by=request.user, items=items):
        return redirect("api:incident-custody-bundle", reference=incident.reference)
    job = custody_bundle_request(incident=incident, by=request.user)
    messages.info(
        request,
        f"Custody bundle {job.pk} is being built; its download link appears below "
        "when it is ready.",
    )
    return redirect("evidence:list", reference=incident.reference)


@incident_page(methods=["POST"])
def legal_hold(request: HttpRequest, incident: Incident) -> HttpResponse:
    form = LegalHoldForm(request.POST)
    if form.is_valid():
        setting = form.cleaned_data["action"] == "set"
        run(
            request,
            lambda: legal_hold_change(
                incident=incident, by=request.user, **form.cleaned_data
            ),
            "Legal hold set." if setting else "Legal hold released.",
        )
    else:
        messages.error(request, form_errors(form))
    return redirect("evidence:list", reference=incident.reference)


@login_required
def evidence_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = _evidence_or_404(request, pk)
    return render(
        request,
        "evidence/evidence_detail.html",
        {
            "item": item,
            "incident": item.incident,
            "events": selectors.custody_list(item),
            "custody_form": CustodyForm(auto_id="custody_%s"),
            "withdraw_form": ReasonForm(auto_id="withdraw_%s"),
            "can_edit": request.user.can_edit_cases,
            "can_read_content": may_read_content(request.user, evidence=item),
        },
    )


@login_required
@require_POST
def custody_record_form(request: HttpRequest, pk: int) -> HttpResponse:
    item = _evidence_or_404(request, pk)
    form = CustodyForm(request.POST)
    if form.is_valid():
        run(
            request,
            lambda: custody_add(evidence=item, by=request.user, **form.cleaned_data),
            f"Recorded: {form.cleaned_data['action']}.",
        )
    else:
        messages.error(request, form_errors(form))
    return redirect("evidence:detail", pk=item.pk)


@login_required
@require_POST
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    item = _evidence_or_404(request, pk)
    form = ReasonForm(request.POST)
    if form.is_valid():
        run(
            request,
            lambda: evidence_withdraw(
                evidence=item, by=request.user, **form.cleaned_data
            ),
            f"{item.exhibit} withdrawn.",
        )
    else:
        messages.error(request, form_errors(form))
    return redirect("evidence:detail", pk=item.pk)
