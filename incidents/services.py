"""Every write to an incident and its parts. Each service owns its transaction, locks
the incident it changes and records the change in the incident history."""

from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Choices
from django.utils import timezone

from accounts.models import Membership, User
from config.errors import Conflict, InvalidInput, NotAllowed
from incidents.history import history_record
from incidents.locks import incident_lock
from incidents.models import (
    Incident,
    Note,
    ReferenceCounter,
    Subject,
    Task,
    TimelineEntry,
)
from incidents.subjects import normalise_subject

S = Incident.Status
ALLOWED_MOVES: dict[str, frozenset[str]] = {
    S.OPEN: frozenset({S.TRIAGE}),
    S.TRIAGE: frozenset({S.INVESTIGATING, S.CLOSED}),
    S.INVESTIGATING: frozenset({S.LEGAL_REVIEW, S.CLOSED}),
    S.LEGAL_REVIEW: frozenset({S.INVESTIGATING, S.REFERRED, S.CLOSED}),
    S.REFERRED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset({S.INVESTIGATING}),
}
EDITABLE_FIELDS = (
    "title",
    "summary",
    "kind",
    "severity",
    "affected_models",
    "tlp",
    "owner",
)


def require_case_editor(user: User, *, allow_service: bool = False) -> None:
    """Refuse (NotAllowed) a user whose role cannot change incidents. `allow_service`
    also lets a detection tool's service account through, for the few acts it may
    do (opening an incident from an alert, with its memberships)."""
    if allow_service and user.role == User.Role.SERVICE:
        return
    if not user.can_edit_cases:
        raise NotAllowed(f"Your role ({user.role}) cannot change incidents.")


def require_choice(field: str, value: Any, choices: type[Choices]) -> None:
    """Refuse (InvalidInput naming `field`) a value that is not one of `choices`, a
    model's TextChoices: `require_choice("severity", value, Incident.Severity)`."""
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise InvalidInput.for_field(field, f"'{value}' is not one of: {allowed}.")


def _clean_models(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
        raise InvalidInput.for_field("affected_models", "Must be a list of strings.")
    cleaned = [m.strip() for m in value if m.strip()]
    return list(dict.fromkeys(cleaned))


def _allocate_reference(year: int) -> tuple[int, str]:
    """Next sequence for `year`, inside the caller's transaction.

    The counter row is locked until the incident row is committed, so concurrent
    openers queue here: no duplicate and, because a rolled-back transaction also
    rolls back its increment, no gap.
    """
    ReferenceCounter.objects.bulk_create(
        [ReferenceCounter(year=year, last_sequence=0)], ignore_conflicts=True
    )
    counter = ReferenceCounter.objects.select_for_update().get(year=year)
    counter.last_sequence += 1
    counter.save(update_fields=["last_sequence"])
    return counter.last_sequence, f"INC-{year}-{counter.last_sequence:04d}"


def incident_open(
    *,
    by: User,
    title: str,
    kind: str,
    severity: str,
    summary: str = "",
    tlp: str = Incident.Tlp.AMBER,
    affected_models: list[str] | None = None,
    detected_at: datetime | None = None,
    subjects: list[dict[str, Any]] | None = None,
    owner: User | None = None,
    status: str = Incident.Status.OPEN,
    allow_service: bool = False,
) -> Incident:
    """Open an incident with the caller as member (and owner unless one is given).

    `allow_service` lets a detection tool's service account open one (the alert
    service does, for an alert that correlates to nothing); people still need a
    case-editing role. Records `incident.opened`, the membership and each subject.
    """
    require_case_editor(by, allow_service=allow_service)
    title = (title or "").strip()
    if not title:
        raise InvalidInput.for_field("title", "A title is required.")
    require_choice("kind", kind, Incident.Kind)
    require_choice("severity", severity, Incident.Severity)
    require_choice("tlp", tlp, Incident.Tlp)
    models_list = _clean_models(affected_models or [])
    normalised_subjects = []
    for index, subject in enumerate(subjects or []):
        try:
            value = normalise_subject(subject.get("kind"), subject.get("value"))
        except InvalidInput as error:
            field = error.errors[0]["field"]
            raise InvalidInput(
                error.detail,
                [{"field": f"subjects[{index}].{field}", "message": error.detail}],
            ) from None
        normalised_subjects.append((subject["kind"], value, subject.get("note") or ""))

    now = timezone.now()
    with transaction.atomic():
        sequence, reference = _allocate_reference(now.year)
        incident = Incident.objects.create(
            reference=reference,
            year=now.year,
            sequence=sequence,
            title=title,
            summary=summary or "",
            kind=kind,
            severity=severity,
            tlp=tlp,
            status=status,
            affected_models=models_list,
            owner=owner or by,
            created_by=by,
            detected_at=detected_at,
            created_at=now,
            updated_at=now,
        )
        history_record(
            incident=incident,
            actor=by,
            action="incident.opened",
            summary=f"Opened {reference}: {title}",
            after=_snapshot(incident),
        )
        membership_add(incident=incident, user=by, by=by, allow_service=allow_service)
        if incident.owner_id != by.pk:
            assert incident.owner is not None  # owner or by, above
            membership_add(
                incident=incident,
                user=incident.owner,
                by=by,
                allow_service=allow_service,
            )
        unique: dict[tuple[str, str], str] = {}
        for (
            kind_,
            value,
            note,
        ) in normalised_subjects:  # one per (kind, value): the first
            unique.setdefault((kind_, value), note)
        for (kind_, value), note in unique.items():
            _subject_create(
                incident=incident, by=by, kind=kind_, value=value, note=note
            )
    return incident


def _snapshot(incident: Incident) -> dict[str, Any]:
    return {
        "title": incident.title,
        "summary": incident.summary,
        "kind": incident.kind,
        "severity": incident.severity,
        "tlp": incident.tlp,
        "status": incident.status,
        "affected_models": incident.affected_models,
        "owner": incident.owner.username if incident.owner else None,
    }


def incident_update(
    *, incident: Incident, by: User, changes: dict[str, Any]
) -> Incident:
    """Change editable fields; one history row per changed field with before and after.

    `owner` is a User; a new owner who is not yet a member is added as one.
    """
    require_case_editor(by)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        field = sorted(unknown)[0]
        raise InvalidInput.for_field(field, f"'{field}' cannot be changed.")
    if "title" in changes:
        changes["title"] = (changes["title"] or "").strip()
        if not changes["title"]:
            raise InvalidInput.for_field("title", "A title is required.")
    for field, choices in (("kind", Incident.Kind), ("severity", Incident.Severity)):
        if field in changes:
            require_choice(field, changes[field], choices)
    if "tlp" in changes:
        require_choice("tlp", changes["tlp"], Incident.Tlp)
    if "affected_models" in changes:
        changes["affected_models"] = _clean_models(changes["affected_models"])
    if "owner" in changes and (
        changes["owner"] is None or not changes["owner"].is_active
    ):
        raise InvalidInput.for_field("owner", "The owner must be an active user.")

    with transaction.atomic():
        incident = incident_lock(incident)
        changed = []
        for field, new in changes.items():
            old = getattr(incident, field)
            if old == new:
                continue
            setattr(incident, field, new)
            changed.append(field)
            shown_old = old.username if isinstance(old, User) else old
            shown_new = new.username if isinstance(new, User) else new
            history_record(
                incident=incident,
                actor=by,
                action=f"incident.{field}_changed",
                summary=f"Changed {field.replace('_', ' ')}",
                before={field: shown_old},
                after={field: shown_new},
            )
        if changed:
            incident.updated_at = timezone.now()
            incident.save(update_fields=[*changed, "updated_at"])
            if "owner" in changed:
                assert incident.owner is not None  # refused above
                membership_add(incident=incident, user=incident.owner, by=by)
    return incident


def incident_transition(
    *, incident: Incident, by: User, to: str, reason: str = ""
) -> Incident:
    """Move the incident to status `to` if the contract allows the move.

    Closing and reopening need a reason. Moving to the current status changes nothing.
    Raises Conflict (and changes nothing) for a move the state machine forbids.
    """
    require_case_editor(by)
    require_choice("to", to, Incident.Status)
    reason = (reason or "").strip()
    with transaction.atomic():
        incident = incident_lock(incident)
        current = incident.status
        if to == current:
            return incident
        if to not in ALLOWED_MOVES[current]:
            allowed = ", ".join(sorted(ALLOWED_MOVES[current])) or "none"
            raise Conflict(
                f"An incident in '{current}' cannot move to '{to}' (allowed: {allowed})."
            )
        is_reopen = current == S.CLOSED
        if (to == S.CLOSED or is_reopen) and not reason:
            verb = "close" if to == S.CLOSED else "reopen"
            raise InvalidInput.for_field(
                "reason", f"A reason is required to {verb} an incident."
            )
        incident.status = to
        incident.closed_at = timezone.now() if to == S.CLOSED else None
        incident.updated_at = timezone.now()
        incident.save(update_fields=["status", "closed_at", "updated_at"])
        verb = "Reopened" if is_reopen else ("Closed" if to == S.CLOSED else "Moved")
        history_record(
            incident=incident,
            actor=by,
            action="incident.transitioned",
            summary=f"{verb}: {current} → {to}",
            before={"status": current},
            after={"status": to},
            reason=reason,
        )
    return incident


def membership_add(
    *, incident: Incident, user: User, by: User, allow_service: bool = False
) -> tuple[Membership, bool]:
    """Give `user` access to `incident`. Returns (membership, created).

    `by` needs a case-editing role (`allow_service`: or be a detection tool's service
    account, for the incidents its alerts open). Records `member.added` in the
    incident history; adding a member again changes and records nothing."""
    require_case_editor(by, allow_service=allow_service)
    if not user.is_active:
        raise InvalidInput.for_field("user", f"{user.username} is not an active user.")
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(
            incident=incident, user=user, defaults={"added_by": by}
        )
        if created:
            history_record(
                incident=incident,
                actor=by,
                action="member.added",
                summary=f"Added member {user.username} ({user.role})",
                after={"user": user.username, "role": user.role},
            )
    return membership, created


def membership_remove(*, incident: Incident, user: User, by: User) -> None:
    """Take away `user`'s access. `by` needs a case-editing role. The owner cannot be
    removed (move ownership first): the owner is read under the incident's lock, so a
    concurrent change of owner is seen.

    Records `member.removed` in the incident history."""
    require_case_editor(by)
    with transaction.atomic():
        incident = incident_lock(incident)
        membership = (
            Membership.objects.select_for_update()
            .filter(incident=incident, user=user)
            .first()
        )
        if membership is None:
            raise InvalidInput.for_field("user", f"{user.username} is not a member.")
        if incident.owner_id == user.pk:
            raise Conflict(
                f"{user.username} owns {incident.reference}; change the owner first."
            )
        # Memberships are access grants, not records; the history keeps the record.
        membership.delete()
        history_record(
            incident=incident,
            actor=by,
            action="member.removed",
            summary=f"Removed member {user.username}",
            before={"user": user.username, "role": user.role},
        )


def _subject_create(
    *, incident: Incident, by: User, kind: str, value: str, note: str
) -> Subject:
    subject = Subject.objects.create(
        incident=incident, kind=kind, value=value, note=note, added_by=by
    )
    history_record(
        incident=incident,
        actor=by,
        action="subject.added",
        summary=f"Added subject {kind} {value}"[:300],
        after={"kind": kind, "value": value, "note": note},
    )
    return subject


def subjects_add_missing(
    *, incident: Incident, by: User, subjects: list[dict[str, Any]]
) -> int:
    """Add those of `subjects` (each {"kind", "value"}, the value already normalised
    with `normalise_subject`) that `incident` does not have yet, with no note; one
    `subject.added` history row each. Returns how many were added.

    Precondition: the caller holds `incident_lock(incident)` and has checked `by`'s
    right to act (the alert services do both). Does not touch the incident."""
    present = set(
        Subject.objects.filter(incident=incident).values_list("kind", "value")
    )
    added = 0
    for subject in subjects:
        key = (subject["kind"], subject["value"])
        if key in present:
            continue
        _subject_create(incident=incident, by=by, kind=key[0], value=key[1], note="")
        present.add(key)
        added += 1
    return added


def subject_add(
    *, incident: Incident, by: User, kind: str, value: str, note: str = ""
) -> tuple[Subject, bool]:
    """Add a subject, normalised per kind. Returns (subject, created); an existing
    subject with the same kind and normalised value is returned unchanged."""
    require_case_editor(by)
    value = normalise_subject(kind, value)
    with transaction.atomic():
        incident = incident_lock(incident)
        existing = Subject.objects.filter(
            incident=incident, kind=kind, value=value
        ).first()
        if existing:
            return existing, False
        subject = _subject_create(
            incident=incident, by=by, kind=kind, value=value, note=note or ""
        )
        incident_touch(incident=incident)
    return subject, True


def incident_touch(*, incident: Incident) -> None:
    """Mark `incident` as changed now (`updated_at`), as every service that changes one
    of its parts does. Precondition: the caller holds `incident_lock(incident)` and
    records the change itself."""
    incident.updated_at = timezone.now()
    incident.save(update_fields=["updated_at"])


def timeline_add(
    *,
    incident: Incident,
    by: User,
    occurred_at: datetime,
    title: str,
    description: str = "",
    source: str = "",
) -> TimelineEntry:
    """Add a timeline entry; `recorded_at` is the server's time, never the caller's."""
    require_case_editor(by)
    title = (title or "").strip()
    if not title:
        raise InvalidInput.for_field("title", "A title is required.")
    if occurred_at > timezone.now() + timedelta(days=1):
        raise InvalidInput.for_field(
            "occurred_at", "An event cannot occur in the future."
        )
    with transaction.atomic():
        incident = incident_lock(incident)
        entry = TimelineEntry.objects.create(
            incident=incident,
            occurred_at=occurred_at,
            title=title,
            description=description or "",
            source=source or "",
            recorded_by=by,
        )
        history_record(
            incident=incident,
            actor=by,
            action="timeline.added",
            summary=f"Timeline: {title}",
            after={
                "occurred_at": occurred_at.isoformat(),
                "title": title,
                "source": source,
            },
        )
        incident_touch(incident=incident)
    return entry


def note_add(
    *, incident: Incident, by: User, body: str, privileged: bool = False
) -> Note:
    """Add a note. The history names a privileged note but never copies its body."""
    require_case_editor(by)
    body = (body or "").strip()
    if not body:
        raise InvalidInput.for_field("body", "A note needs a body.")
    with transaction.atomic():
        incident = incident_lock(incident)
        note = Note.objects.create(
            incident=incident, body=body, is_privileged=privileged, author=by
        )
        history_record(
            incident=incident,
            actor=by,
            action="note.added",
            summary="Added a privileged note" if privileged else "Added a note",
            after={"note": note.pk, "privileged": privileged},
        )
        incident_touch(incident=incident)
    return note


def task_add(
    *,
    incident: Incident,
    by: User,
    title: str,
    assignee: User | None = None,
    due_on: date | None = None,
) -> Task:
    """Add a task; an assignee must be able to see the incident."""
    require_case_editor(by)
    title = (title or "").strip()
    if not title:
        raise InvalidInput.for_field("title", "A task needs a title.")
    with transaction.atomic():
        incident = incident_lock(incident)
        if assignee and not (
            assignee.is_admin or incident.memberships.filter(user=assignee).exists()
        ):
            raise InvalidInput.for_field(
                "assignee",
                f"{assignee.username} is not a member of {incident.reference}.",
            )
        task = Task.objects.create(
            incident=incident,
            title=title,
            assignee=assignee,
            due_on=due_on,
            created_by=by,
        )
        history_record(
            incident=incident,
            actor=by,
            action="task.added",
            summary=f"Task: {title}",
            after={
                "task": task.pk,
                "title": title,
                "assignee": assignee.username if assignee else None,
                "due_on": due_on.isoformat() if due_on else None,
            },
        )
        incident_touch(incident=incident)
    return task


def task_set_done(*, task: Task, by: User, is_done: bool) -> Task:
    require_case_editor(by)
    with transaction.atomic():
        incident = incident_lock(task.incident)
        task = Task.objects.select_for_update().get(pk=task.pk)
        if task.is_done == is_done:
            return task
        task.is_done = is_done
        task.done_at = timezone.now() if is_done else None
        task.save(update_fields=["is_done", "done_at"])
        history_record(
            incident=incident,
            actor=by,
            action="task.done" if is_done else "task.reopened",
            summary=f"{'Completed' if is_done else 'Reopened'} task: {task.title}",
            before={"task": task.pk, "is_done": not is_done},
            after={"task": task.pk, "is_done": is_done},
        )
        incident_touch(incident=incident)
    return task
