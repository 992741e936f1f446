from django.db.models import QuerySet

from accounts.models import User
from dossiers.models import Dossier
from incidents.models import Incident
from incidents.selectors import incident_visible_to


def dossier_list_for_user(user: User, incident: Incident) -> QuerySet[Dossier]:
    return (
        Dossier.objects.filter(
            incident=incident, incident__in=incident_visible_to(user)
        )
        .select_related("incident", "requested_by", "evidence")
        .order_by("-requested_at", "-id")
    )


def dossier_get_for_user(user: User, dossier_id: int) -> Dossier | None:
    return (
        Dossier.objects.filter(pk=dossier_id, incident__in=incident_visible_to(user))
        .select_related("incident", "requested_by", "evidence", "evidence__blob")
        .first()
    )
