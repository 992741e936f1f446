"""Analysis reads; `_for_user` means access-checked (hidden looks like missing).
Lists leave the (large) result out; only a single analysis loads it."""

from django.db.models import QuerySet

from accounts.models import User
from analysis.models import Analysis
from incidents.models import Incident
from incidents.selectors import incident_visible_to


def analysis_list_for_user(user: User, incident: Incident) -> QuerySet[Analysis]:
    return (
        Analysis.objects.filter(
            incident=incident, incident__in=incident_visible_to(user)
        )
        .defer("result")
        .select_related("incident", "requested_by", "evidence")
        .order_by("-requested_at", "-id")
    )


def analysis_get_for_user(user: User, analysis_id: int) -> Analysis | None:
    return (
        Analysis.objects.filter(pk=analysis_id, incident__in=incident_visible_to(user))
        .select_related("incident", "requested_by", "evidence")
        .first()
    )


def analysis_latest_done(incident: Incident) -> Analysis | None:
    """The newest finished analysis of the incident (callers check access)."""
    return (
        Analysis.objects.filter(incident=incident, status=Analysis.Status.DONE)
        .select_related("incident", "requested_by", "evidence")
        .order_by("-finished_at", "-id")
        .first()
    )
