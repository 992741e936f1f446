"""Browser pages for query logs (summary, hourly chart, per-account table, rows) and
forensic results. Same selectors as the API; every query is bounded, so a page's
query count and cost do not grow with the number of rows shown."""

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Max, Min, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from api.pages import incident_page
from evidence import selectors
from evidence.models import ForensicResult, QueryLogBatch, QueryLogRow
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


# ---- Hourly chart -------------------------------------------------------------


def _nice_step(top: int, ticks: int = 4) -> int:
    raw = max(top / ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return int(factor * magnitude)
    return int(10 * magnitude)


LABEL_STEPS_HOURS = (1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720, 2160, 4320, 8760)


@dataclass
class Chart:
    bars: list[dict]
    grid: list[dict]
    labels: list[dict]
    unit: str  # "hour" or "day" or "N days"
    peak: dict
    width: int = 1100
    height: int = 230
    left: int = 56
    right: int = 24
    top: int = 10
    bottom: int = 40

    @property
    def plot_bottom(self) -> int:
        return self.height - self.bottom

    @property
    def plot_height(self) -> int:
        return self.plot_bottom - self.top

    @property
    def plot_right(self) -> int:
        return self.width - self.right


def _volume(rows: QuerySet[QueryLogRow], first: datetime, last: datetime):
    """Counts per bucket from one GROUP BY: per hour when the span fits in MAX_BARS
    bars, else per day (then grouped into several days per bar if still too many)."""
    first, last = first.astimezone(UTC), last.astimezone(UTC)
    start = first.replace(minute=0, second=0, microsecond=0)
    hours = int((last - start) / timedelta(hours=1)) + 1
    hourly = hours <= MAX_BARS
    if hourly:
        step, per = timedelta(hours=1), 1
    else:
        start = start.replace(hour=0)
        days = (last - start).days + 1
        step, per = timedelta(days=1), math.ceil(days / MAX_BARS)
    counts = dict(selectors.query_log_volume(rows, hourly=hourly))
    width = step * per
    n = int((last - start) / width) + 1
    buckets = [[start + width * i, 0] for i in range(n)]
    for at, count in counts.items():
        buckets[int((at - start) / width)][1] += count
    unit = (
        "hour" if step == timedelta(hours=1) else "day" if per == 1 else f"{per} days"
    )
    return buckets, width, unit


def _plus(at: datetime, width: timedelta) -> datetime:
    """The end of a bucket, held at the calendar's last instant: rows stored before
    ingestion refused times past 2099 can sit in the year 9999's last hour."""
    try:
        return at + width
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def _chart(rows: QuerySet[QueryLogRow], first: datetime, last: datetime) -> Chart:
    buckets, width, unit = _volume(rows, first, last)
    chart = Chart(bars=[], grid=[], labels=[], unit=unit, peak={})
    plot_w = chart.plot_right - chart.left
    plot_h = chart.plot_bottom - chart.top
    top = max(count for _, count in buckets) or 1
    step = _nice_step(top)
    y_max = math.ceil(top / step) * step
    for value in range(0, y_max + 1, step):
        y = chart.plot_bottom - plot_h * value / y_max
        chart.grid.append({"y": round(y, 2), "value": f"{value:,}"})

    slot = plot_w / len(buckets)
    gap = slot * 0.2 if slot >= 4 else 0
    hourly = width < timedelta(days=1)
    every = next(
        (
            h
            for h in LABEL_STEPS_HOURS
            if h * 3600 >= width.total_seconds()
            and len(buckets) * width.total_seconds() / (h * 3600) <= 12
        ),
        LABEL_STEPS_HOURS[-1],
    )
    previous_mark, previous_label = None, None
    for i, (at, count) in enumerate(buckets):
        height = plot_h * count / y_max
        x = chart.left + slot * i
        end = _plus(at, width)
        when = (
            f"{at:%Y-%m-%d %H:00}–{end:%H:00} UTC"
            if hourly
            else f"{at:%Y-%m-%d}"
            + (
                f" – {end - timedelta(days=1):%Y-%m-%d}"
                if width > timedelta(days=1)
                else ""
            )
        )
        chart.bars.append(
            {
                "x": round(x + gap / 2, 2),
                "y": round(chart.plot_bottom - height, 2),
                "w": round(max(slot - gap, 0.3), 2),
                "h": round(height, 2),
                "slot_x": round(x, 2),
                "slot_w": round(slot, 2),
                "title": f"{when}: {count:,} row{'' if count == 1 else 's'}",
                "count": count,
            }
        )
        if count == top and not chart.peak:
            chart.peak = {"at": at, "count": count, "hourly": hourly}
        mark = int(at.timestamp() // 3600) // every
        if mark != previous_mark and (i or int(at.timestamp() // 3600) % every == 0):
            if every < 24:
                line1 = f"{at:%H:00}"
                line2 = f"{at:%b %d}" if previous_label != at.date() else ""
            else:
                line1 = f"{at:%b %d}"
                line2 = f"{at:%Y}" if previous_label != at.year else ""
            chart.labels.append({"x": round(x, 2), "line1": line1, "line2": line2})
            previous_label = at.date() if every < 24 else at.year
        previous_mark = mark
    return chart


# ---- Pages ----------------------------------------------------------------------


def _query_log_summary(incident: Incident) -> dict:
    rows = selectors.query_log_rows(incident)
    totals = rows.order_by().aggregate(
        rows=Count("id"), first=Min("timestamp"), last=Max("timestamp")
    )
    if not totals["rows"]:
        return {"rows": 0}
    accounts = selectors.query_log_accounts(rows)
    account_total = rows.order_by().values("account_id").distinct().count()
    top = list(accounts[:TOP_ACCOUNTS])
    biggest = top[0]["count"] if top else 1
    for account in top:
        account["share"] = 100 * account["count"] / totals["rows"]
        account["bar"] = round(100 * account["count"] / biggest, 1)
    batches = QueryLogBatch.objects.filter(
        incident=incident, evidence__isnull=False
    ).order_by("-received_at", "-id")
    return {
        **totals,
        "accounts": top,
        "account_total": account_total,
        "accounts_more": account_total - len(top),
        "batches": list(
            batches.select_related("received_by", "evidence")[:RECENT_BATCHES]
        ),
        "batch_total": batches.count(),
        "chart": _chart(rows, totals["first"], totals["last"]),
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
