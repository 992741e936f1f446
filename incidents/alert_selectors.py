"""Reads for alerts. `_for_user` selectors show only alerts on incidents the user may
see, so a hidden alert looks exactly like a missing one."""

from django.db.models import Count, QuerySet

from accounts.models import User
from incidents.models import Alert, Incident
from incidents.selectors import incident_visible_to


def alert_visible_to(user: User) -> QuerySet[Alert]:
    """Alerts on incidents `user` may see (administrators: all)."""
    return Alert.objects.filter(incident__in=incident_visible_to(user).values("pk"))


def alert_list_for_user(
    user: User, *, status: str | None = None, source: str | None = None
) -> QuerySet[Alert]:
    """`status` and `source` take comma-separated values."""
    alerts = alert_visible_to(user).select_related(
        "incident", "received_by", "handled_by"
    )
    if status:
        alerts = alerts.filter(status__in=status.split(","))
    if source:
        alerts = alerts.filter(source__in=source.split(","))
    return alerts.order_by("-last_seen_at", "-id")


def alert_get_for_user(user: User, pk: int) -> Alert | None:
    return (
        alert_visible_to(user)
        .select_related("incident", "received_by", "handled_by")
        .filter(pk=pk)
        .first()
    )


def alert_status_counts_for_user(user: User) -> dict[str, int]:
    rows = alert_visible_to(user).values("status").annotate(n=Count("id")).order_by()
    return {row["status"]: row["n"] for row in rows}


def alert_sources_for_user(user: User) -> list[str]:
    return list(
        alert_visible_to(user)
        .order_by("source")
        .values_list("source", flat=True)
        .distinct()
    )


def alert_list_for_incident(incident: Incident) -> QuerySet[Alert]:
    return incident.alerts.select_related("handled_by").order_by("-last_seen_at", "-id")
