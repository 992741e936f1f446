"""Evidence reads; `_for_user` means access-checked (hidden looks like missing)."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from django.db import connection
from django.db.models import Count, Func, Max, Min, Prefetch, QuerySet
from django.db.models.functions import Substr, TruncDay, TruncHour

from accounts.models import User
from evidence.models import (
    Checkpoint,
    CustodyBundle,
    CustodyEvent,
    CustodyVerification,
    Evidence,
    ForensicResult,
    QueryLogBatch,
    QueryLogRow,
)
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


def custody_verification_get_for_user(
    user: User, job_id: int
) -> CustodyVerification | None:
    """A verification job of an incident the user may see (whoever asked for it: it
    holds what the synchronous check answers any member). Reading its report also
    needs the content-reader rule, checked by the caller as for the check itself."""
    return (
        CustodyVerification.objects.filter(
            pk=job_id, incident__in=incident_visible_to(user)
        )
        .select_related("incident", "requested_by")
        .first()
    )


def custody_verification_latest(incident: Incident) -> CustodyVerification | None:
    """The incident's newest verification job (callers check access)."""
    return (
        CustodyVerification.objects.filter(incident=incident)
        .select_related("incident", "requested_by")
        .order_by("-requested_at", "-id")
        .first()
    )


def custody_bundle_get_for_user(user: User, job_id: int) -> CustodyBundle | None:
    """A bundle job the user asked for, of an incident they may still see. A bundle
    holds what its requester may see (privileged items, files), so it is theirs
    alone: anyone else's looks missing."""
    return (
        CustodyBundle.objects.filter(
            pk=job_id, requested_by=user, incident__in=incident_visible_to(user)
        )
        .select_related("incident", "requested_by")
        .first()
    )


def custody_bundle_latest_for_user(
    user: User, incident: Incident
) -> CustodyBundle | None:
    return (
        CustodyBundle.objects.filter(
            incident=incident,
            requested_by=user,
            incident__in=incident_visible_to(user),
        )
        .select_related("incident", "requested_by")
        .order_by("-requested_at", "-id")
        .first()
    )


def custody_list(evidence: Evidence) -> QuerySet[CustodyEvent]:
    return evidence.custody.select_related("evidence", "evidence__incident").order_by(
        "seq"
    )


def checkpoint_latest() -> Checkpoint | None:
    return Checkpoint.objects.order_by("-tree_size").first()


def query_log_rows(
    incident: Incident,
    *,
    account_id: str | None = None,
    ip: str | None = None,
    model: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    **_pagination: object,
) -> QuerySet[QueryLogRow]:
    rows = QueryLogRow.objects.filter(incident=incident)
    if account_id:
        rows = rows.filter(account_id=account_id)
    if ip:
        rows = rows.filter(ip=ip)
    if model:
        rows = rows.filter(model=model)
    if since:
        rows = rows.filter(timestamp__gte=since)
    if until:
        rows = rows.filter(timestamp__lt=until)
    return rows


def query_log_batch(batch_id: int) -> QueryLogBatch:
    return QueryLogBatch.objects.select_related(
        "incident",
        "received_by",
        "evidence",
        "evidence__incident",
        "evidence__received_by",
    ).get(pk=batch_id)


def query_log_batch_for_user(user: User, batch_id: int) -> QueryLogBatch | None:
    visible = incident_visible_to(user)
    batch = QueryLogBatch.objects.filter(
        pk=batch_id, incident__in=visible, evidence__isnull=False
    ).first()
    return query_log_batch(batch.pk) if batch else None


def query_log_row_for_user(user: User, row_id: int) -> QueryLogRow | None:
    return QueryLogRow.objects.filter(
        pk=row_id, incident__in=incident_visible_to(user)
    ).first()


def _forensic_results_for_user(user: User) -> QuerySet[ForensicResult]:
    """Results the user may see, each with only the artefacts the user may see, in
    `visible_artefacts`: a privileged artefact's id and title stay hidden from whoever
    may not see privileged items. `artefacts` itself is not prefetched, so no caller
    reads the unfiltered list by accident of a cache."""
    return (
        ForensicResult.objects.filter(evidence__in=evidence_visible_to(user))
        .select_related(
            "incident",
            "submitted_by",
            "evidence",
            "evidence__incident",
            "evidence__received_by",
        )
        .prefetch_related(
            Prefetch(
                "artefacts",
                queryset=evidence_visible_to(user).order_by("exhibit_number"),
                to_attr="visible_artefacts",
            )
        )
    )


def forensic_result_list_for_user(
    user: User, incident: Incident
) -> QuerySet[ForensicResult]:
    return _forensic_results_for_user(user).filter(incident=incident)


def forensic_result_get_for_user(user: User, result_id: int) -> ForensicResult | None:
    return _forensic_results_for_user(user).filter(pk=result_id).first()


def forensic_result_cards_for_user(
    user: User, incident: Incident
) -> QuerySet[ForensicResult]:
    """The incident's results (with `visible_artefacts`), newest first."""
    return forensic_result_list_for_user(user, incident).order_by(
        "-submitted_at", "-id"
    )


def query_log_accounts(
    rows: QuerySet[QueryLogRow],
) -> QuerySet[QueryLogRow, dict[str, Any]]:
    """Per account: count, first and last seen; largest first."""
    # values() rows are plain dicts that callers extend; the plugin's TypedDict of
    # the four keys would forbid that.
    return cast(
        "QuerySet[QueryLogRow, dict[str, Any]]",
        rows.order_by()
        .values("account_id")
        .annotate(
            count=Count("id"), first_seen=Min("timestamp"), last_seen=Max("timestamp")
        )
        .order_by("-count", "account_id"),
    )


@dataclass(frozen=True)
class QueryLogSummary:
    rows: int
    first: datetime | None  # the earliest row's timestamp
    last: datetime | None
    account_total: int  # distinct accounts
    # account_id, count, first_seen, last_seen; largest first
    accounts: list[dict[str, Any]]


def query_log_summary(
    incident: Incident, *, top_accounts: int | None = None
) -> QueryLogSummary:
    """The incident's query logs in figures, as the Query logs tab, the stats API and
    the dossier show them: rows, time span, and accounts by volume (the
    `top_accounts` largest, or all). Callers check access; the hourly volume is
    `query_log_volume`, whose bucket size a chart chooses."""
    rows = query_log_rows(incident)
    totals = rows.order_by().aggregate(
        rows=Count("id"), first=Min("timestamp"), last=Max("timestamp")
    )
    if not totals["rows"]:
        return QueryLogSummary(
            rows=0, first=None, last=None, account_total=0, accounts=[]
        )
    accounts = query_log_accounts(rows)
    if top_accounts is None:
        listed = list(accounts)
        account_total = len(listed)
    else:
        listed = list(accounts[:top_accounts])
        account_total = rows.order_by().values("account_id").distinct().count()
    return QueryLogSummary(
        rows=totals["rows"],
        first=totals["first"],
        last=totals["last"],
        account_total=account_total,
        accounts=listed,
    )


def _bucket_expression(hourly: bool) -> Func:
    if connection.vendor == "sqlite":
        # SQLite holds datetimes as UTC text "YYYY-MM-DD HH:MM:SS[.ffffff]", so a
        # prefix is the truncation, done in SQL; Django's TruncHour there calls a
        # Python function per row (about 10 s on a million rows).
        return Substr("timestamp", 1, 13 if hourly else 10)
    return (TruncHour if hourly else TruncDay)("timestamp", tzinfo=UTC)


def _bucket_start(value: str | datetime, hourly: bool) -> datetime:
    if isinstance(value, str):
        return datetime.strptime(
            value, "%Y-%m-%d %H" if hourly else "%Y-%m-%d"
        ).replace(tzinfo=UTC)
    return value.astimezone(UTC)


def query_log_volume(
    rows: QuerySet[QueryLogRow], *, hourly: bool = True
) -> list[tuple[Any, ...]]:
    """(bucket start in UTC, count) per hour or per day, in order, from one GROUP BY;
    only buckets that have rows."""
    buckets = (
        rows.order_by()
        .annotate(at=_bucket_expression(hourly))
        .values("at")
        .annotate(count=Count("id"))
        .order_by("at")
    )
    return [(_bucket_start(b["at"], hourly), b["count"]) for b in buckets]
