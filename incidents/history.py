"""The one writer of incident history rows. Services call it inside their transaction."""

from typing import Any

from incidents.models import HistoryEntry, Incident


def history_record(
    *,
    incident: Incident,
    actor: Any,
    action: str,
    summary: str,
    before: Any = None,
    after: Any = None,
    reason: str = "",
) -> HistoryEntry:
    return HistoryEntry.objects.create(
        incident=incident,
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        summary=summary[:300],
        before=before,
        after=after,
        reason=reason,
    )
