"""Browser pages for incidents. Same selectors and services as the API."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.selectors import user_get_by_username
from api.pages import form_errors, incident_page, run
from config.errors import DomainError
from evidence.selectors import evidence_list_for_user
from incidents import forms, selectors, services
from incidents.alert_selectors import alert_list_for_incident
from incidents.models import Incident

LIST_FILTERS = ("status", "severity", "kind", "owner", "q", "ordering")


def _back(incident: Incident, anchor: str) -> HttpResponse:
    return redirect(
        reverse("incidents:detail", args=[incident.reference]) + f"#{anchor}"
    )


@login_required
def incident_list(request: HttpRequest) -> HttpResponse:
    filters = {name: request.GET.get(name, "").strip() for name in LIST_FILTERS}
    incidents = selectors.incident_list_for_user(
        request.user, **{k: v or None for k, v in filters.items()}
    )
    page = Paginator(incidents, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "incidents/incident_list.html",
        {
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "status_counts": selectors.incident_status_counts_for_user(request.user),
            "statuses": Incident.Status.choices,
            "severities": Incident.Severity.choices,
            "kinds": Incident.Kind.choices,
        },
    )


@login_required
def incident_create(request: HttpRequest) -> HttpResponse:
    if not request.user.can_edit_cases:
        raise Http404
    form = forms.IncidentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            incident = services.incident_open(by=request.user, **form.cleaned_data)
        except DomainError as error:
            form.add_error(None, error.detail)
        else:
            messages.success(request, f"Opened {incident.reference}.")
            return redirect("incidents:detail", reference=incident.reference)
    return render(request, "incidents/incident_form.html", {"form": form})


@incident_page
def incident_edit(request: HttpRequest, incident: Incident) -> HttpResponse:
    initial = {
        "title": incident.title,
        "summary": incident.summary,
        "kind": incident.kind,
        "severity": incident.severity,
        "tlp": incident.tlp,
        "affected_models": ", ".join(incident.affected_models),
        "detected_at": incident.detected_at,
    }
    initial["owner"] = incident.owner.username if incident.owner_id else ""
    form = forms.IncidentEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes = {k: v for k, v in form.cleaned_data.items() if k != "detected_at"}
        try:
            services.incident_update(
                incident=incident, by=request.user, changes=changes
            )
        except DomainError as error:
            form.add_error(None, error.detail)
        else:
            messages.success(request, "Incident updated.")
            return redirect("incidents:detail", reference=incident.reference)
    return render(
        request, "incidents/incident_form.html", {"form": form, "incident": incident}
    )


@incident_page
def incident_detail(request: HttpRequest, incident: Incident) -> HttpResponse:
    members = list(selectors.member_list(incident))
    return render(
        request,
        "incidents/incident_detail.html",
        {
            "incident": incident,
            "subjects": selectors.subject_list(incident),
            "timeline": selectors.timeline_list(incident),
            "notes": selectors.note_list_for_user(request.user, incident),
            "tasks": selectors.task_list(incident),
            "members": members,
            "history": selectors.history_list(incident).order_by("-at", "-id")[:15],
            "moves": sorted(services.ALLOWED_MOVES[incident.status]),
            "status_labels": dict(Incident.Status.choices),
            # Distinct id prefixes: several forms on this page share field names.
            "subject_form": forms.SubjectForm(auto_id="subject_%s"),
            "timeline_form": forms.TimelineForm(auto_id="timeline_%s"),
            "note_form": forms.NoteForm(auto_id="note_%s"),
            "task_form": forms.TaskForm(members=members, auto_id="task_%s"),
            "member_form": forms.MemberForm(auto_id="member_%s"),
            "can_edit": request.user.can_edit_cases,
            "evidence_count": evidence_list_for_user(request.user, incident).count(),
            "alerts": alert_list_for_incident(incident),
        },
    )


@incident_page
def incident_history(request: HttpRequest, incident: Incident) -> HttpResponse:
    page = Paginator(selectors.history_list(incident), 100).get_page(
        request.GET.get("page")
    )
    return render(
        request, "incidents/history_list.html", {"incident": incident, "page": page}
    )


@incident_page(methods=["POST"])
def incident_transition(request: HttpRequest, incident: Incident) -> HttpResponse:
    form = forms.TransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors(form))
    else:
        to = form.cleaned_data["to"]
        run(
            request,
            lambda: services.incident_transition(
                incident=incident, by=request.user, **form.cleaned_data
            ),
            f"Status is now {Incident.Status(to).label}.",
        )
    return _back(incident, "overview")


def _post_form(request, incident, form_class, anchor, call, success):
    form = form_class(request.POST)
    if form.is_valid():
        run(request, lambda: call(incident, form.cleaned_data), success)
    else:
        messages.error(request, form_errors(form))
    return _back(incident, anchor)


@incident_page(methods=["POST"])
def subject_add(request: HttpRequest, incident: Incident) -> HttpResponse:
    return _post_form(
        request,
        incident,
        forms.SubjectForm,
        "subjects",
        lambda incident, data: services.subject_add(
            incident=incident, by=request.user, **data
        ),
        "Subject added.",
    )


@incident_page(methods=["POST"])
def timeline_add(request: HttpRequest, incident: Incident) -> HttpResponse:
    return _post_form(
        request,
        incident,
        forms.TimelineForm,
        "timeline",
        lambda incident, data: services.timeline_add(
            incident=incident, by=request.user, **data
        ),
        "Timeline entry added.",
    )


@incident_page(methods=["POST"])
def note_add(request: HttpRequest, incident: Incident) -> HttpResponse:
    return _post_form(
        request,
        incident,
        forms.NoteForm,
        "notes",
        lambda incident, data: services.note_add(
            incident=incident, by=request.user, **data
        ),
        "Note added.",
    )


@incident_page(methods=["POST"])
def task_add(request: HttpRequest, incident: Incident) -> HttpResponse:
    form = forms.TaskForm(request.POST, members=selectors.member_list(incident))
    if form.is_valid():
        data = dict(form.cleaned_data)
        data["assignee"] = (
            user_get_by_username(data["assignee"]) if data["assignee"] else None
        )
        run(
            request,
            lambda: services.task_add(incident=incident, by=request.user, **data),
            "Task added.",
        )
    else:
        messages.error(request, form_errors(form))
    return _back(incident, "tasks")


@incident_page(methods=["POST"])
def task_toggle(request: HttpRequest, incident: Incident, pk: int) -> HttpResponse:
    task = selectors.task_get(incident, pk)
    if task is None:
        raise Http404
    run(
        request,
        lambda: services.task_set_done(
            task=task, by=request.user, is_done=not task.is_done
        ),
        "Task updated.",
    )
    return _back(incident, "tasks")


@incident_page(methods=["POST"])
def member_add(request: HttpRequest, incident: Incident) -> HttpResponse:
    form = forms.MemberForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return _back(incident, "members")
    user = user_get_by_username(form.cleaned_data["user"])
    if user is None:
        messages.error(
            request, f"There is no active user '{form.cleaned_data['user']}'."
        )
        return _back(incident, "members")

    run(
        request,
        lambda: services.membership_add(incident=incident, user=user, by=request.user),
        f"{user.username} can now see {incident.reference}.",
    )
    return _back(incident, "members")


@incident_page(methods=["POST"])
def member_remove(
    request: HttpRequest, incident: Incident, username: str
) -> HttpResponse:
    membership = selectors.member_get(incident, username)
    if membership is None:
        raise Http404

    run(
        request,
        lambda: services.membership_remove(
            incident=incident, user=membership.user, by=request.user
        ),
        f"{username} removed from {incident.reference}.",
    )
    return _back(incident, "members")
