"""Reads. `_for_user` selectors return only what the user may see; "not allowed"
is indistinguishable from "not found" (both give None or an empty queryset)."""

from django.db.models import (
    Case,
    Count,
    IntegerField,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)

from accounts.models import Membership, User
from incidents.models import HistoryEntry, Incident, Note, Subject, Task, TimelineEntry

ORDERINGS = {
    "created_at": "created_at",
    "-created_at": "-created_at",
    "updated_at": "updated_at",
    "-updated_at": "-updated_at",
    "reference": "reference",
    "-reference": "-reference",
    "title": "title",
    "-title": "-title",
    "status": "status",
    "-status": "-status",
    # Severity sorts by rank, not alphabetically.
    "severity": "severity_rank",
    "-severity": "-severity_rank",
}
SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


def incident_visible_to(user: User) -> QuerySet[Incident]:
    if not user.is_authenticated or not user.is_active:
        return Incident.objects.none()
    if user.is_admin:
        return Incident.objects.all()
    return Incident.objects.filter(memberships__user=user)


def incident_list_for_user(
    user: User,
    *,
    status: str | None = None,
    severity: str | None = None,
    kind: str | None = None,
    owner: str | None = None,
    q: str | None = None,
    ordering: str | None = None,
) -> QuerySet[Incident]:
    qs = (
        incident_visible_to(user)
        .select_related("owner")
        .prefetch_related(
            Prefetch("subjects", queryset=Subject.objects.select_related("added_by"))
        )
    )
    if status:
        qs = qs.filter(status__in=status.split(","))
    if severity:
        qs = qs.filter(severity__in=severity.split(","))
    if kind:
        qs = qs.filter(kind__in=kind.split(","))
    if owner:
        qs = qs.filter(owner__username=owner)
    if q:
        q = q.strip()
        qs = qs.filter(
            Q(title__icontains=q)
            | Q(summary__icontains=q)
            | Q(reference__iexact=q)
            | Q(subjects__value__icontains=q)
        ).distinct()
    order = ORDERINGS.get(ordering or "", "-created_at")
    if "severity_rank" in order:
        qs = qs.annotate(
            severity_rank=Case(
                *(When(severity=k, then=Value(v)) for k, v in SEVERITY_RANK.items()),
                output_field=IntegerField(),
            )
        )
    return qs.order_by(order, "-id")


def incident_status_counts_for_user(user: User) -> dict[str, int]:
    rows = incident_visible_to(user).values("status").annotate(n=Count("id")).order_by()
    return {row["status"]: row["n"] for row in rows}


def incident_get_for_user(user: User, reference: str) -> Incident | None:
    return (
        incident_visible_to(user)
        .select_related("owner", "created_by")
        .filter(reference=reference)
        .first()
    )


def subject_list(incident: Incident) -> QuerySet[Subject]:
    return incident.subjects.select_related("added_by")


def timeline_list(incident: Incident) -> QuerySet[TimelineEntry]:
    return incident.timeline.select_related("recorded_by")


def note_list_for_user(user: User, incident: Incident) -> QuerySet[Note]:
    notes = incident.notes.select_related("author")
    if not user.can_see_privileged:
        notes = notes.filter(is_privileged=False)
    return notes


def task_list(incident: Incident) -> QuerySet[Task]:
    return incident.tasks.select_related("assignee", "created_by")


def task_get(incident: Incident, task_id: int) -> Task | None:
    return incident.tasks.filter(pk=task_id).first()


def member_list(incident: Incident) -> QuerySet[Membership]:
    return incident.memberships.select_related("user", "added_by").order_by(
        "user__username"
    )


def member_get(incident: Incident, username: str) -> Membership | None:
    return (
        incident.memberships.select_related("user")
        .filter(user__username=username)
        .first()
    )


def history_list(incident: Incident) -> QuerySet[HistoryEntry]:
    return incident.history.select_related("actor")
