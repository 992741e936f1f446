"""Browser pages for query logs (summary, hourly chart, per-account table, rows) and
forensic results. Same selectors as the API; every query is bounded, so a page's
query count and cost do not grow with the number of rows shown."""

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from api.pages import incident_page
from evidence import selectors
from evidence.models import ForensicResult, QueryLogBatch, QueryLogRow
from evidence.querylog_chart import Chart, Frame, chart_step, volume_chart
from evidence.services.access import require_content_reader
from incidents.models import Incident

PAGE_SIZE = 100
TOP_ACCOUNTS = 50
RECENT_BATCHES = 25
MAX_BARS = 2000
ROW_FILTERS = ("account_id", "ip", "model", "since", "until")


# ---- Filters and keyset cursor ------------------------------------------------


class RowFilterForm(forms.Form):
    account_id = forms.CharField(required=False, max_length=256)
    ip = forms.GenericIPAddressField(required=False, label="IP address")
    model = forms.CharField(required=False, max_length=200)
    since = forms.DateTimeField(required=False)
    until = forms.DateTimeField(required=False)


def _row_filters(request: HttpRequest) -> tuple[dict, dict]:
    """Valid filters (for the selector) and their raw text (for links and inputs).
    An invalid filter is dropped with a message, never an error page."""
    form = RowFilterForm(request.GET)
    with timezone.override(UTC):  # datetime-local inputs carry no zone: they are UTC
        form.is_valid()
    for field, errors in form.errors.items():
        messages.warning(
            request,
            f"Ignored the {form.fields[field].label or field} filter: "
            f"{' '.join(errors)}",
        )
    valid = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    raw = {k: request.GET[k].strip() for k in valid}
    return valid, raw


def _cursor_text(row: QueryLogRow) -> str:
    stamp = row.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp},{row.pk}"


def _cursor_parse(text: str) -> tuple[datetime, int] | None:
    stamp, _, pk = text.strip().rpartition(",")
    try:
        at = datetime.fromisoformat(stamp)
        number = int(pk)
    except ValueError:
        return None
    if not 0 < number < 2**63:
        return None
    try:
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC), number
    except OverflowError:  # a time at the edge of the calendar is no valid position
        return None


def _rows_page(
    rows: QuerySet[QueryLogRow], after: tuple[datetime, int] | None
) -> tuple[list[QueryLogRow], str | None]:
    """One page in (timestamp, id) order from the keyset cursor, using the
    (incident, timestamp, id) index; never OFFSET."""
    if after:
        at, pk = after
        rows = rows.filter(Q(timestamp__gt=at) | Q(timestamp=at, id__gt=pk))
    page = list(
        rows.select_related("batch__evidence")
        .defer("response", "params", "extra", "user_agent")
        .order_by("timestamp", "id")[: PAGE_SIZE + 1]
    )
    if len(page) > PAGE_SIZE:
        page = page[:PAGE_SIZE]
        return page, _cursor_text(page[-1])
    return page, None


# ---- Volume chart -------------------------------------------------------------

PAGE_CHART = Frame(width=1100, height=230, left=56, right=24, top=10, bottom=40)


def _chart(rows: QuerySet[QueryLogRow], first: datetime, last: datetime) -> Chart:
    """Counts per bucket from one GROUP BY: per hour, or per day for a long span."""
    step = chart_step(first, last, max_bars=MAX_BARS)
    counts = selectors.query_log_volume(rows, hourly=step.hourly)
    return volume_chart(counts, step, PAGE_CHART)


# ---- Pages ----------------------------------------------------------------------


def _query_log_summary(incident: Incident) -> dict:
    summary = selectors.query_log_summary(incident, top_accounts=TOP_ACCOUNTS)
    if not summary.rows:
        return {"rows": 0}
    top = summary.accounts
    biggest = top[0]["count"] if top else 1
    for account in top:
        account["share"] = 100 * account["count"] / summary.rows
        account["bar"] = round(100 * account["count"] / biggest, 1)
    batches = QueryLogBatch.objects.filter(
        incident=incident, evidence__isnull=False
    ).order_by("-received_at", "-id")
    return {
        "rows": summary.rows,
        "first": summary.first,
        "last": summary.last,
        "accounts": top,
        "account_total": summary.account_total,
        "accounts_more": summary.account_total - len(top),
        "batches": list(
            batches.select_related("received_by", "evidence")[:RECENT_BATCHES]
        ),
        "batch_total": batches.count(),
        "chart": _chart(
            selectors.query_log_rows(incident), summary.first, summary.last
        ),
    }


@incident_page(role=require_content_reader)
def query_logs_tab(request: HttpRequest, incident: Incident) -> HttpResponse:
    summary = _query_log_summary(incident)
    context = {"incident": incident, "summary": summary}
    if summary["rows"]:
        filters, raw = _row_filters(request)
        after = None
        if request.GET.get("after"):
            after = _cursor_parse(request.GET["after"])
            if after is None:
                messages.warning(
                    request,
                    "Ignored a malformed page position; showing the first page.",
                )
        page, next_after = _rows_page(
            selectors.query_log_rows(incident, **filters), after
        )
        query = urlencode(raw)
        context.update(
            rows=page,
            filters=raw,
            is_filtered=bool(filters),
            is_later_page=after is not None,
            query=query,
            query_but_account=urlencode(
                {k: v for k, v in raw.items() if k != "account_id"}
            ),
            next_query=urlencode({**raw, "after": next_after}) if next_after else "",
            form_values={k: request.GET.get(k, "") for k in ROW_FILTERS},
            page_size=PAGE_SIZE,
        )
    return render(request, "evidence/querylog_tab.html", context)


def _p_display(p: float) -> str:
    if p == 0:
        return "0 (below floating-point range)"
    if p < 1e-3:
        return f"{p:.1e}".replace("e-0", "e-")
    return f"{p:.4g}"


def _value_display(value) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@incident_page(role=require_content_reader)
def forensic_results_tab(request: HttpRequest, incident: Incident) -> HttpResponse:
    results = selectors.forensic_result_cards_for_user(request.user, incident)
    page = Paginator(results, 25).get_page(request.GET.get("page"))
    cards = [
        {
            "result": result,
            "p_display": _p_display(result.p_value),
            "alpha_display": f"{result.alpha:g}",
            "statistic_display": f"{result.statistic_value:.6g}",
            "is_significant": result.p_value <= result.alpha,
            "parameters": sorted(
                (str(k), _value_display(v))
                for k, v in (result.parameters or {}).items()
            ),
        }
        for result in page
    ]
    return render(
        request,
        "evidence/forensic_results.html",
        {
            "incident": incident,
            "page": page,
            "cards": cards,
            "verdicts": ForensicResult.Verdict,
        },
    )
