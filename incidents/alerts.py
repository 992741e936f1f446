"""Alerts from detection tools (contract: "Alerts" in shared/API.md).

Writes: `alert_receive` (deduplicate, correlate, attach) and the triage acts
`alert_promote`, `alert_merge`, `alert_dismiss`. Reads are in `alert_selectors`.

Every write here locks the alert's key, then the alert, then its incident(s) by
ascending id: the lock order of every writer (incidents/locks.py).
"""

import math
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from config.errors import Conflict, InvalidInput, NotAllowed
from incidents import services
from incidents.history import history_record
from incidents.locks import incident_lock, incidents_lock
from incidents.models import Alert, AlertKey, Incident
from incidents.selectors import incident_visible_to
from incidents.subjects import normalise_subject

A = Alert.Status
S = Incident.Status


# ---- Receiving ---------------------------------------------------------------


def require_alert_sender(user: User) -> None:
    if not user.can_submit_evidence:
        raise NotAllowed(f"Your role ({user.role}) cannot post alerts.")


def _clean_subjects(subjects: list[dict]) -> list[dict]:
    cleaned: list[dict] = []
    for index, subject in enumerate(subjects):
        kind = subject.get("kind")
        try:
            value = normalise_subject(kind, subject.get("value"))
        except InvalidInput as error:
            field = f"subjects[{index}].{error.errors[0]['field']}"
            raise InvalidInput(
                f"{field}: {error.detail}", [{"field": field, "message": error.detail}]
            ) from None
        item = {"kind": kind, "value": value}
        if item not in cleaned:
            cleaned.append(item)
    return cleaned


def _number(value: Any, field: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput.for_field(field, "Must be a number.")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidInput.for_field(field, "Must be a finite number.")
    return number


def _clean_signals(signals: list[dict]) -> list[dict]:
    cleaned = []
    for index, signal in enumerate(signals):
        at = f"signals[{index}]"
        name = signal.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput.for_field(f"{at}.name", "A signal needs a name.")
        p_value = _number(signal.get("p_value"), f"{at}.p_value", optional=True)
        if p_value is not None and not 0 <= p_value <= 1:
            raise InvalidInput.for_field(f"{at}.p_value", "Must be between 0 and 1.")
        explanation = signal.get("explanation") or ""
        if not isinstance(explanation, str):
            raise InvalidInput.for_field(f"{at}.explanation", "Must be a string.")
        cleaned.append(
            {
                "name": name.strip(),
                "value": _number(signal.get("value"), f"{at}.value"),
                "threshold": _number(
                    signal.get("threshold"), f"{at}.threshold", optional=True
                ),
                "p_value": p_value,
                "explanation": explanation,
            }
        )
    return cleaned


def _required_text(value: str, field: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput.for_field(field, f"{field} must not be empty.")
    return value


def _lock_key(source: str, external_id: str) -> None:
    """Wait for any other write about this key to commit, and keep it out until this
    transaction ends. The key's row is created on first use."""
    AlertKey.objects.bulk_create(
        [AlertKey(source=source, external_id=external_id)], ignore_conflicts=True
    )
    AlertKey.objects.select_for_update().get(source=source, external_id=external_id)


def _seen_by(by: User, source: str, external_id: str) -> Alert | None:
    """The first alert with this key on an incident `by` may see; locked."""
    return (
        Alert.objects.select_for_update()
        .filter(
            source=source,
            external_id=external_id,
            incident__in=incident_visible_to(by).values("pk"),
        )
        .order_by("id")
        .first()
    )


def _correlate(by: User, subjects: list[dict]) -> Incident | None:
    """The most recently updated incident `by` may see, not closed, that shares a
    subject with the alert; locked. None when there is none."""
    if not subjects:
        return None
    shares = Q()
    for subject in subjects:
        shares |= Q(subjects__kind=subject["kind"], subjects__value=subject["value"])
    candidate = (
        incident_visible_to(by)
        .exclude(status=S.CLOSED)
        .filter(shares)
        .order_by("-updated_at", "-id")
        .first()
    )
    if candidate is None:
        return None
    candidate = incident_lock(candidate)
    # Closed between the search and the lock: correlate to nothing rather than wait.
    return None if candidate.status == S.CLOSED else candidate


def alert_receive(
    *,
    by: User,
    source: str,
    external_id: str,
    title: str,
    severity: str,
    detected_at: datetime,
    model: str = "",
    subjects: list[dict] | None = None,
    signals: list[dict] | None = None,
    score: float | None = None,
    incident: Incident | None = None,
) -> tuple[Alert, bool]:
    """Record an alert from a detection tool. Returns (alert, created).

    Precondition: `incident`, if given, is one `by` may see (looked up through an
    access-checked selector). The first sighting of (`source`, `external_id`) is
    attached to `incident`, else to the most recently updated incident `by` may see
    that is not closed and shares a normalised subject, else to a new incident in
    `triage` opened by `by`. The alert's subjects are added to that incident
    (`subject.added` rows) and `alert.received` is recorded in its history.

    A repeat sighting only counts: `occurrences` + 1 and `last_seen_at`; nothing is
    re-correlated or recorded. "Seen before" means on an incident `by` may see: an
    alert with this key on any other incident is, for `by`, not there, so the
    sighting is a first one, answered and recorded as such, and the other alert is
    neither touched nor revealed. Concurrent sightings of one key are safe: each
    locks the key first, so the later ones wait and then count as repeats.
    """
    require_alert_sender(by)
    source = _required_text(source, "source")
    external_id = _required_text(external_id, "external_id")
    title = _required_text(title, "title")
    services.require_choice("severity", severity, Incident.Severity)
    model = (model or "").strip()
    clean_subjects = _clean_subjects(subjects or [])
    clean_signals = _clean_signals(signals or [])
    score = _number(score, "score", optional=True)

    now = timezone.now()
    with transaction.atomic():
        _lock_key(source, external_id)
        alert = _seen_by(by, source, external_id)
        if alert is not None:
            alert.occurrences += 1
            alert.last_seen_at = now
            alert.save(update_fields=["occurrences", "last_seen_at"])
            return alert, False

        target = incident_lock(incident) if incident else _correlate(by, clean_subjects)
        if target is None:
            # A detector's new incident goes to the triage team, so people see it.
            team = list(
                User.objects.filter(
                    username__in=settings.ALERT_TRIAGE_USERS, is_active=True
                ).order_by("username")
            )
            target = services.incident_open(
                by=by,
                title=title,
                kind=Incident.Kind.DISTILLATION,
                severity=severity,
                summary=f"Opened from alert {source} {external_id}.",
                affected_models=[model] if model else [],
                detected_at=detected_at,
                subjects=clean_subjects,
                status=S.TRIAGE,
                owner=team[0] if team else None,
                allow_service=True,
            )
            for member in team[1:]:
                services.membership_add(
                    incident=target, user=member, by=by, allow_service=True
                )
        else:
            services.subjects_add_missing(
                incident=target, by=by, subjects=clean_subjects
            )
            services.incident_touch(incident=target)
        alert = Alert.objects.create(
            source=source,
            external_id=external_id,
            title=title,
            severity=severity,
            detected_at=detected_at,
            model=model,
            subjects=clean_subjects,
            signals=clean_signals,
            score=score,
            incident=target,
            first_seen_at=now,
            last_seen_at=now,
            received_by=by,
        )
        history_record(
            incident=target,
            actor=by,
            action="alert.received",
            summary=f"Alert from {source} ({external_id}): {title}",
            after={
                "alert": alert.pk,
                "source": source,
                "external_id": external_id,
                "severity": severity,
                "score": score,
            },
        )
    return alert, True


# ---- Triage ------------------------------------------------------------------


def _lock_alert(alert: Alert) -> Alert:
    return Alert.objects.select_for_update().get(pk=alert.pk)


def _require_new(alert: Alert, verb: str) -> None:
    if alert.status != A.NEW:
        raise Conflict(
            f"This alert is already {alert.get_status_display().lower()}; "
            f"only a new alert can be {verb}."
        )


def _handled(alert: Alert, by: User, status: str, fields: tuple = ()) -> None:
    alert.status = status
    alert.handled_by = by
    alert.handled_at = timezone.now()
    alert.save(update_fields=["status", "handled_by", "handled_at", *fields])


def _label(alert: Alert) -> str:
    return f"{alert.source} ({alert.external_id})"


def alert_promote(*, alert: Alert, by: User) -> Alert:
    """Take a new alert up: its incident moves on to `investigating` (through
    `triage` from `open`; later statuses are left alone) and the alert is marked
    promoted. Records the moves and `alert.promoted`. Conflict, and nothing changed,
    when the alert is not new or its incident is closed."""
    services.require_case_editor(by)
    with transaction.atomic():
        alert = _lock_alert(alert)
        _require_new(alert, "promoted")
        incident = incident_lock(alert.incident)
        if incident.status == S.CLOSED:
            raise Conflict(
                f"{incident.reference} is closed; reopen it before promoting the alert."
            )
        before = incident.status
        reason = f"Promoted alert {_label(alert)}"
        for start, step in ((S.OPEN, S.TRIAGE), (S.TRIAGE, S.INVESTIGATING)):
            if incident.status == start:
                incident = services.incident_transition(
                    incident=incident, by=by, to=step, reason=reason
                )
        _handled(alert, by, A.PROMOTED)
        history_record(
            incident=incident,
            actor=by,
            action="alert.promoted",
            summary=f"Promoted alert {_label(alert)}: {alert.title}",
            before={"alert": alert.pk, "status": A.NEW, "incident_status": before},
            after={
                "alert": alert.pk,
                "status": A.PROMOTED,
                "incident_status": incident.status,
            },
        )
        alert.incident = incident
    return alert


def alert_merge(*, alert: Alert, by: User, into: Incident) -> Alert:
    """Move a new alert to incident `into` and mark it merged; its subjects are added
    there. Precondition: `by` may see `into`. Records `alert.merged` in both
    incidents' history. Conflict, and nothing changed, when the alert is not new,
    is already on `into`, `into` has an alert with the same source and external_id,
    or `into` is closed."""
    services.require_case_editor(by)
    with transaction.atomic():
        _lock_key(alert.source, alert.external_id)
        alert = _lock_alert(alert)
        _require_new(alert, "merged")
        if alert.incident_id == into.pk:
            raise Conflict(f"The alert is already on {into.reference}.")
        if into.alerts.filter(
            source=alert.source, external_id=alert.external_id
        ).exists():
            raise Conflict(
                f"{into.reference} already has alert {_label(alert)}; "
                "dismiss this one instead."
            )
        locked = incidents_lock([alert.incident, into])
        origin, target = locked[alert.incident_id], locked[into.pk]
        if target.status == S.CLOSED:
            raise Conflict(
                f"{target.reference} is closed; reopen it before merging into it."
            )
        alert.incident = target
        _handled(alert, by, A.MERGED, ("incident",))
        services.subjects_add_missing(incident=target, by=by, subjects=alert.subjects)
        moved = {"alert": alert.pk, "status": A.MERGED}
        history_record(
            incident=origin,
            actor=by,
            action="alert.merged",
            summary=f"Merged alert {_label(alert)} into {target.reference}",
            before={"alert": alert.pk, "incident": origin.reference},
            after={**moved, "incident": target.reference},
        )
        history_record(
            incident=target,
            actor=by,
            action="alert.merged",
            summary=f"Merged alert {_label(alert)} in from {origin.reference}",
            before={"alert": alert.pk, "incident": origin.reference},
            after={**moved, "incident": target.reference},
        )
        services.incident_touch(incident=origin)
        services.incident_touch(incident=target)
    return alert


def alert_dismiss(*, alert: Alert, by: User, reason: str) -> Alert:
    """Dismiss a new alert with a reason (required). Records `alert.dismissed` with
    the reason. Conflict, and nothing changed, when the alert is not new."""
    services.require_case_editor(by)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput.for_field("reason", "A reason is required to dismiss.")
    with transaction.atomic():
        alert = _lock_alert(alert)
        _require_new(alert, "dismissed")
        incident = incident_lock(alert.incident)
        alert.dismissed_reason = reason
        _handled(alert, by, A.DISMISSED, ("dismissed_reason",))
        history_record(
            incident=incident,
            actor=by,
            action="alert.dismissed",
            summary=f"Dismissed alert {_label(alert)}: {alert.title}",
            before={"alert": alert.pk, "status": A.NEW},
            after={"alert": alert.pk, "status": A.DISMISSED},
            reason=reason,
        )
        services.incident_touch(incident=incident)
    return alert
