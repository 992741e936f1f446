"""Evidence reads; `_for_user` means access-checked (hidden looks like missing)."""

from django.db.models import Count, QuerySet

from accounts.models import User
from evidence.models import Checkpoint, CustodyEvent, Evidence
from incidents.models import Incident
from incidents.selectors import incident_visible_to


def evidence_visible_to(user: User) -> QuerySet[Evidence]:
    items = Evidence.objects.filter(incident__in=incident_visible_to(user))
    if not user.can_see_privileged:
        items = items.filter(is_privileged=False)
    return items


def evidence_list_for_user(user: User, incident: Incident) -> QuerySet[Evidence]:
    return (
        evidence_visible_to(user)
        .filter(incident=incident)
        .select_related("incident", "received_by", "blob")
        .annotate(custody_count=Count("custody"))
        .order_by("exhibit_number")
    )


def evidence_get_for_user(user: User, evidence_id: int) -> Evidence | None:
    return (
        evidence_visible_to(user)
        .select_related("incident", "received_by", "blob", "withdrawn_by")
        .annotate(custody_count=Count("custody"))
        .filter(pk=evidence_id)
        .first()
    )


def custody_list(evidence: Evidence) -> QuerySet[CustodyEvent]:
    return evidence.custody.select_related("evidence", "evidence__incident").order_by(
        "seq"
    )


def checkpoint_latest() -> Checkpoint | None:
    return Checkpoint.objects.order_by("-tree_size").first()
