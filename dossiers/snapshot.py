"""The case as it stands when a dossier job starts, as plain data for the renderer.

Privileged notes and items never enter the snapshot except as privilege-log lines.
Tables are capped here, not in the template, so a million-row case stays small.
Which sections exist, and in what order, is the registry's (dossiers/sections.py);
this module declares the core ones and captures the parts they share once.
"""

from functools import cached_property
from typing import Any

from django.utils import timezone

from config.rfc3339 import format_utc
from dossiers.models import Dossier
from dossiers.sections import Section, dossier_sections, section_keys
from evidence.models import CustodyEvent, Evidence, ForensicResult
from evidence.selectors import query_log_rows, query_log_summary, query_log_volume
from incidents.models import Incident

TOP_ACCOUNTS = 50
EXCERPT_ROWS = 200
CUSTODY_EVENTS_SHOWN = 100  # per exhibit; first and last halves when longer


def _time(value) -> str | None:
    return format_utc(value) if value else None


def _name(user) -> str:
    if user is None:
        return "system"
    full = user.get_full_name()
    return f"{full} ({user.username})" if full else user.username


def legend(incident: Incident) -> str:
    return (
        "CONFIDENTIAL — ATTORNEY-CLIENT PRIVILEGED / ATTORNEY WORK PRODUCT — "
        f"TLP:{incident.tlp.upper()}"
    )


def _exhibits(incident: Incident) -> list[Evidence]:
    return list(
        incident.evidence.filter(is_privileged=False)
        .exclude(kind=Evidence.Kind.DOSSIER)
        .select_related("received_by")
        .order_by("exhibit_number")
    )


def _custody(items: list[Evidence]) -> tuple[list[dict], dict[int, str], int]:
    by_item: dict[int, list[CustodyEvent]] = {item.pk: [] for item in items}
    for event in CustodyEvent.objects.filter(evidence__in=items).order_by("seq"):
        by_item[event.evidence_id].append(event)
    custodians: dict[int, str] = {}
    sections, total = [], 0
    for item in items:
        events = by_item[item.pk]
        total += len(events)
        custodian = item.received_by.username
        for event in events:
            if event.action == CustodyEvent.Action.TRANSFERRED:
                custodian = event.details.get("to_custodian", custodian)
        custodians[item.pk] = custodian
        shown = events
        omitted = 0
        if len(events) > CUSTODY_EVENTS_SHOWN:
            half = CUSTODY_EVENTS_SHOWN // 2
            shown, omitted = (
                events[:half] + events[-half:],
                len(events) - CUSTODY_EVENTS_SHOWN,
            )
        sections.append(
            {
                "exhibit": item.exhibit,
                "title": item.title,
                "omitted": omitted,
                "omitted_after": CUSTODY_EVENTS_SHOWN // 2 if omitted else None,
                "events": [
                    {
                        "seq": e.seq,
                        "action": e.action,
                        "actor": e.actor_name,
                        "at": _time(e.at),
                        "location": e.location,
                        "purpose": e.purpose,
                        "sha256_observed": e.sha256_observed,
                        "details": e.details,
                        "entry_hash": e.entry_hash,
                    }
                    for e in shown
                ],
            }
        )
    return sections, custodians, total


def _query_logs(incident: Incident) -> dict:
    summary = query_log_summary(incident, top_accounts=TOP_ACCOUNTS)
    rows = query_log_rows(incident)
    hourly = query_log_volume(rows, hourly=True)
    excerpt = rows.order_by("timestamp", "id").values(
        "timestamp",
        "account_id",
        "ip",
        "model",
        "prompt",
        "line",
        "batch_id",
        "row_sha256",
    )[:EXCERPT_ROWS]
    batches = incident.query_log_batches.filter(evidence__isnull=False).select_related(
        "evidence"
    )
    return {
        "rows": summary.rows,
        "accounts_total": summary.account_total,
        "accounts": [
            {
                "account_id": a["account_id"],
                "count": a["count"],
                "first_seen": _time(a["first_seen"]),
                "last_seen": _time(a["last_seen"]),
            }
            for a in summary.accounts
        ],
        "hourly": [{"hour": _time(hour), "count": count} for hour, count in hourly],
        "batches": [
            {
                "id": b.pk,
                "exhibit": b.evidence.exhibit,  # type: ignore[union-attr]  # evidence__isnull=False
                "rows": b.rows,
                "body_sha256": b.body_sha256,
                "merkle_root": b.merkle_root,
                "received_at": _time(b.received_at),
            }
            for b in batches
        ],
        "excerpt": [
            {
                "timestamp": _time(r["timestamp"]),
                "account_id": r["account_id"],
                "ip": r["ip"],
                "model": r["model"],
                "prompt": (r["prompt"] or "")[:200],
                "line": r["line"],
                "batch": r["batch_id"],
                "row_sha256": r["row_sha256"],
            }
            for r in excerpt
        ],
        "export_name": "query-logs.csv",
    }


def _alerts(incident: Incident) -> list[dict]:
    alerts = getattr(incident, "alerts", None)
    if alerts is None:
        return []
    return [
        {
            "source": a.source,
            "external_id": a.external_id,
            "title": a.title,
            "severity": a.severity,
            "detected_at": _time(a.detected_at),
            "score": a.score,
            "occurrences": a.occurrences,
            "signals": a.signals,
        }
        for a in alerts.order_by("first_seen_at")
    ]


def _forensics(incident: Incident) -> list[dict]:
    results = (
        ForensicResult.objects.filter(incident=incident, evidence__is_privileged=False)
        .select_related("evidence", "submitted_by")
        .prefetch_related("artefacts")
    )
    return [
        {
            "method": {
                "family": r.method_family,
                "name": r.method_name,
                "version": r.method_version,
            },
            "suspect_model": r.suspect_model,
            "parameters": r.parameters,
            "statistic": {"name": r.statistic_name, "value": r.statistic_value},
            "p_value": r.p_value,
            "alpha": r.alpha,
            "verdict": r.verdict,
            "summary": r.summary,
            "limitations": r.limitations,
            "exhibit": r.evidence.exhibit,
            "artefacts": [a.exhibit for a in r.artefacts.all()],
            "submitted_by": r.submitted_by.username,
            "submitted_at": _time(r.submitted_at),
        }
        for r in results
    ]


class Case:
    """The incident being captured, with the parts several sections read (the
    exhibits, their custody, the query-log summary, ...) each read once."""

    def __init__(self, incident: Incident) -> None:
        self.incident = incident

    @cached_property
    def exhibits(self) -> list[Evidence]:
        return _exhibits(self.incident)

    @cached_property
    def custody(self) -> tuple[list[dict], dict[int, str], int]:
        return _custody(self.exhibits)

    @cached_property
    def query_logs(self) -> dict:
        return _query_logs(self.incident)

    @cached_property
    def forensics(self) -> list[dict]:
        return _forensics(self.incident)

    @cached_property
    def alerts(self) -> list[dict]:
        return _alerts(self.incident)

    @cached_property
    def notes(self) -> list:
        return list(
            self.incident.notes.select_related("author").order_by("created_at", "id")
        )


def _summary(case: Case) -> dict:
    return {
        "exhibits": len(case.exhibits),
        "custody_events": case.custody[2],
        "query_log_rows": case.query_logs["rows"],
        "accounts": case.query_logs["accounts_total"],
        "forensic_results": len(case.forensics),
        "supports": sum(1 for r in case.forensics if r["verdict"] == "supports"),
        "alerts": len(case.alerts),
    }


def _subjects(case: Case) -> list[dict]:
    return [
        {"kind": s.get_kind_display(), "value": s.value, "note": s.note}
        for s in case.incident.subjects.order_by("kind", "value")
    ]


def _timeline(case: Case) -> list[dict]:
    return [
        {
            "occurred_at": _time(t.occurred_at),
            "recorded_at": _time(t.recorded_at),
            "title": t.title,
            "description": t.description,
            "source": t.source,
            "recorded_by": t.recorded_by.username,
        }
        for t in case.incident.timeline.select_related("recorded_by")
    ]


def _exhibit_index(case: Case) -> list[dict]:
    custodians = case.custody[1]
    return [
        {
            "exhibit": item.exhibit,
            "title": item.title,
            "kind": item.get_kind_display(),
            "size": item.size,
            "sha256": item.sha256,
            "media_type": item.media_type,
            "original_name": item.original_name,
            "received_at": _time(item.received_at),
            "received_by": item.received_by.username,
            "custodian": custodians[item.pk],
            "withdrawn": item.is_withdrawn,
        }
        for item in case.exhibits
    ]


def _notes(case: Case) -> list[dict]:
    return [
        {
            "author": n.author.username,
            "created_at": _time(n.created_at),
            "body": n.body,
        }
        for n in case.notes
        if not n.is_privileged
    ]


def _privilege_log(case: Case) -> list[dict]:
    privileged_items = case.incident.evidence.filter(is_privileged=True).select_related(
        "received_by"
    )
    return [
        {
            "item": f"Note {n.pk}",
            "date": _time(n.created_at),
            "author": n.author.username,
            "type": "Case note",
            "basis": "Attorney-client privilege / attorney work product",
        }
        for n in case.notes
        if n.is_privileged
    ] + [
        {
            "item": item.exhibit,
            "date": _time(item.received_at),
            "author": item.received_by.username,
            "type": f"Evidence item ({item.get_kind_display()})",
            "basis": "Attorney-client privilege / attorney work product",
        }
        for item in privileged_items
    ]


def _pdf(key: str) -> str:
    return f"dossiers/pdf/_{key}.html"


# The core sections; analysis registers "analysis" (order 60) from analysis/.
CORE_SECTIONS = (
    Section(
        key="summary",
        title="Executive summary",
        label="Executive summary",
        order=10,
        template=_pdf("summary"),
        build=_summary,
        new_page=True,
    ),
    Section(
        key="facts",
        title="Incident facts",
        label="Incident facts",
        order=20,
        template=_pdf("facts"),
    ),
    Section(
        key="subjects",
        title="Suspected actors and subjects",
        label="Suspected actors and subjects",
        order=30,
        template=_pdf("subjects"),
        build=_subjects,
    ),
    Section(
        key="timeline",
        title="Timeline",
        label="Timeline",
        order=40,
        template=_pdf("timeline"),
        build=_timeline,
    ),
    Section(
        key="query_logs",
        title="Query-log summary",
        label="Query-log summary",
        order=50,
        template=_pdf("query_logs"),
        build=lambda case: case.query_logs,
    ),
    Section(
        key="alerts",
        title="Alerts",
        label="Alerts and signals",
        order=70,
        template=_pdf("alerts"),
        build=lambda case: case.alerts,
    ),
    Section(
        key="forensic_results",
        title="Forensic results",
        label="Forensic results",
        order=80,
        template=_pdf("forensic_results"),
        build=lambda case: case.forensics,
    ),
    Section(
        key="exhibits",
        title="Exhibit index",
        label="Exhibit index",
        order=90,
        template=_pdf("exhibits"),
        build=_exhibit_index,
        new_page=True,
    ),
    Section(
        key="custody",
        title="Chain of custody",
        label="Chain of custody",
        order=100,
        template=_pdf("custody"),
        build=lambda case: case.custody[0],
        new_page=True,
    ),
    Section(
        key="notes",
        title="Notes",
        label="Notes (non-privileged)",
        order=110,
        template=_pdf("notes"),
        build=_notes,
    ),
    Section(
        key="privilege_log",
        title="Privilege log",
        label="Privilege log",
        order=120,
        template=_pdf("privilege_log"),
        build=_privilege_log,
    ),
    Section(  # prints the query-log excerpt captured for "query_logs"
        key="appendix",
        title="Appendix: query-log excerpts",
        label="Appendix: query-log excerpts",
        order=130,
        template=_pdf("appendix"),
        new_page=True,
    ),
    Section(  # prints the custody checkpoint every snapshot holds
        key="certification",
        title="Certification",
        label="Certification (FRE 902(13)/(14))",
        order=140,
        template=_pdf("certification"),
        new_page=True,
    ),
)


def build_snapshot(dossier: Dossier) -> dict[str, Any]:
    """Every registered section's data, whichever the dossier prints: the summary
    counts and the attachments read them all."""
    incident = dossier.incident
    case = Case(incident)
    snapshot: dict[str, Any] = {
        "incident": {
            "reference": incident.reference,
            "title": incident.title,
            "summary": incident.summary,
            "kind": incident.get_kind_display(),
            "severity": incident.get_severity_display(),
            "tlp": incident.get_tlp_display(),
            "status": incident.get_status_display(),
            "owner": _name(incident.owner),
            "created_at": _time(incident.created_at),
            "detected_at": _time(incident.detected_at),
            "affected_models": incident.affected_models,
            "legal_hold": incident.is_under_legal_hold,
        },
        "prepared_by": _name(dossier.requested_by),
        "prepared_for": dossier.prepared_for,
        "generated_at": _time(timezone.now()),
        "confidentiality": legend(incident),
        "bates_prefix": dossier.bates_prefix,
        "sections": list(dossier.sections),
    }
    for section in dossier_sections():
        if section.build is not None:
            snapshot[section.key] = section.build(case)
    snapshot.update(
        checkpoint=_checkpoint(),
        attachments=[],
        _exhibit_ids=[item.pk for item in case.exhibits],
    )
    return snapshot


def _checkpoint() -> dict | None:
    from evidence.selectors import checkpoint_latest

    checkpoint = checkpoint_latest()
    if checkpoint is None:
        return None
    return {
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "signed_at": checkpoint.signed_at,
        "key_id": checkpoint.key_id,
    }


def __getattr__(name: str) -> Any:
    # SECTIONS, the registered keys in document order, read when asked for: a
    # constant here could be taken before every app has registered its section.
    if name == "SECTIONS":
        return tuple(section_keys())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
