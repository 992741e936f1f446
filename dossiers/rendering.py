"""Turn a case snapshot into the dossier PDF (PDF/A-3b).

The only module that imports WeasyPrint. Everything the PDF shows comes from the
snapshot through autoescaped Django templates; WeasyPrint may fetch nothing but the
bundled fonts under ``dossiers/assets/``, so a note that contains markup prints as text
and can never make the renderer reach the network or the file system.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import weasyprint
from django.template.loader import render_to_string
from weasyprint.css.counters import CounterStyle
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse, URLFetchingError, path2url

from config.formats import (
    fmt_date,
    fmt_details,
    fmt_exact,
    fmt_int,
    fmt_size,
    fmt_stamp,
    fmt_time,
    fmt_value,
    parse_time,
)
from dossiers.sections import dossier_sections
from evidence.querylog_chart import Frame, chart_step, volume_chart

logger = logging.getLogger(__name__)

ASSETS_DIR = (Path(__file__).resolve().parent / "assets").resolve()
TEMPLATE = "dossiers/pdf/dossier.html"
STYLESHEET = "dossiers/pdf/dossier.css"
PDF_VARIANT = "pdf/a-3b"

# Caps that keep WeasyPrint's table layout fast; the snapshot usually caps already.
MAX_ACCOUNTS = 50
MAX_EXCERPT = 200
MAX_BATCHES = 100
CUSTODY_SHOWN = 100  # per exhibit: first and last half when longer
MAX_BARS = 400
PDF_CHART = Frame(width=640, height=150, left=40, right=4, top=8, bottom=22)


@dataclass
class RenderResult:
    pages: int
    bates_first: str
    bates_last: str


class AssetOnlyFetcher(URLFetcher):
    """Serve the bundled assets and refuse every other URL (http, file, data, ...)."""

    def fetch(self, url, headers=None):
        path = _asset_path(url)
        if path is None:
            logger.warning("dossier renderer refused to fetch %.200s", url)
            raise URLFetchingError(f"Refused to fetch {url[:200]!r}")
        return URLFetcherResponse(path2url(str(path)), path.read_bytes())


def _asset_path(url: str) -> Path | None:
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    path = Path(unquote(parts.path)).resolve()
    if not path.is_relative_to(ASSETS_DIR) or not path.is_file():
        return None
    return path


def render_dossier(
    snapshot: dict,
    output: Path,
    progress: Callable[[int, str], None],
) -> RenderResult:
    """Render ``snapshot`` to ``output`` as PDF/A-3b. The attachments the snapshot
    lists are embedded afterwards (dossiers/attachments.py): WeasyPrint would read
    each into memory and recompress it."""
    progress(20, "preparing")
    context = build_context(snapshot)
    html = render_to_string(TEMPLATE, context)
    css = render_to_string(STYLESHEET, {})
    fetcher = AssetOnlyFetcher()
    base_url = path2url(str(ASSETS_DIR)) + "/"
    # A user stylesheet's @font-face and @counter-style rules only count when the
    # stylesheet and the document share these two registries.
    font_config = FontConfiguration()
    counter_style = CounterStyle()
    stylesheet = weasyprint.CSS(
        string=css,
        base_url=base_url,
        url_fetcher=fetcher,
        font_config=font_config,
        counter_style=counter_style,
    )
    progress(30, "laying out")
    document = weasyprint.HTML(
        string=html, base_url=base_url, url_fetcher=fetcher
    ).render(
        font_config=font_config,
        counter_style=counter_style,
        stylesheets=[stylesheet],
        pdf_variant=PDF_VARIANT,
    )
    pages = len(document.pages)
    progress(70, "writing PDF")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    document.write_pdf(target=str(output), pdf_variant=PDF_VARIANT)
    progress(80, "rendered")
    prefix = context["bates_prefix"]
    return RenderResult(
        pages=pages, bates_first=bates(prefix, 1), bates_last=bates(prefix, pages)
    )


def bates(prefix: str, page: int) -> str:
    """The Bates number of ``page``, as the page footer prints it."""
    return f"{prefix}-{page:06d}"


# --- context -------------------------------------------------------------------------


def build_context(snapshot: dict) -> dict[str, Any]:
    """Everything the templates print, already formatted as text and capped."""
    incident = snapshot.get("incident") or {}
    registered = {section.key: section for section in dossier_sections()}
    wanted = [registered[s] for s in snapshot.get("sections") or [] if s in registered]
    sections = [
        {
            "key": section.key,
            "number": number,
            "title": section.title,
            "anchor": f"section-{section.key}",
            "template": section.template,
            "new_page": section.new_page,
        }
        for number, section in enumerate(wanted, start=1)
    ]
    generated_at = snapshot.get("generated_at")
    exhibit_hashes = {
        item.get("exhibit"): item.get("sha256")
        for item in snapshot.get("exhibits") or []
    }
    # A section this module does not format (an app's own) built its data ready to
    # print, as analysis/dossier.py does.
    printed = {
        section.key: snapshot.get(section.key)
        for section in registered.values()
        if section.build is not None
    }
    return {
        **printed,
        "incident": {
            **incident,
            "created_at": fmt_time(incident.get("created_at")),
            "detected_at": fmt_time(incident.get("detected_at")),
            "affected_models": list(incident.get("affected_models") or []),
        },
        "reference": incident.get("reference") or "",
        "prepared_by": snapshot.get("prepared_by") or "",
        "prepared_for": snapshot.get("prepared_for") or "",
        "generated_at": fmt_time(generated_at),
        "generated_date": fmt_date(generated_at),
        "generated_iso": generated_at or "",
        "legend": snapshot.get("confidentiality") or "CONFIDENTIAL",
        "bates_prefix": snapshot.get("bates_prefix") or incident.get("reference") or "",
        "sections": sections,
        "summary": {
            key: fmt_int(value)
            for key, value in (snapshot.get("summary") or {}).items()
        },
        "subjects": snapshot.get("subjects") or [],
        "timeline": [
            {
                **event,
                "occurred_at": fmt_stamp(event.get("occurred_at")),
                "recorded_at": fmt_stamp(event.get("recorded_at")),
            }
            for event in snapshot.get("timeline") or []
        ],
        "query_logs": _query_logs(snapshot.get("query_logs") or {}),
        "alerts": [_alert(alert) for alert in snapshot.get("alerts") or []],
        "forensic_results": [
            _forensic(result) for result in snapshot.get("forensic_results") or []
        ],
        "exhibits": [
            {
                **item,
                "size": fmt_size(item.get("size")),
                "size_bytes": fmt_int(item.get("size")),
                "received_at": fmt_stamp(item.get("received_at")),
            }
            for item in snapshot.get("exhibits") or []
        ],
        "custody": [
            _custody(entry, exhibit_hashes) for entry in snapshot.get("custody") or []
        ],
        "custody_columns": CUSTODY_COLUMNS,
        "notes": [
            {**note, "created_at": fmt_time(note.get("created_at"))}
            for note in snapshot.get("notes") or []
        ],
        "privilege_log": [
            {**entry, "date": fmt_stamp(entry.get("date"))}
            for entry in snapshot.get("privilege_log") or []
        ],
        "checkpoint": _checkpoint(snapshot.get("checkpoint")),
        "attachments": [
            {
                **item,
                "size": fmt_size(item.get("size")),
                "size_bytes": fmt_int(item.get("size")),
            }
            for item in snapshot.get("attachments") or []
        ],
    }


def _query_logs(logs: dict) -> dict[str, Any]:
    accounts = logs.get("accounts") or []
    excerpt = logs.get("excerpt") or []
    batches = logs.get("batches") or []
    return {
        "rows": fmt_int(logs.get("rows") or 0),
        "accounts_total": fmt_int(logs.get("accounts_total") or 0),
        "accounts": [
            {
                **account,
                "count": fmt_int(account.get("count")),
                "first_seen": fmt_stamp(account.get("first_seen")),
                "last_seen": fmt_stamp(account.get("last_seen")),
            }
            for account in accounts[:MAX_ACCOUNTS]
        ],
        "accounts_shown": min(len(accounts), MAX_ACCOUNTS),
        "chart": hourly_chart(logs.get("hourly") or []),
        "batches": [
            {
                **batch,
                "rows": fmt_int(batch.get("rows")),
                "received_at": fmt_stamp(batch.get("received_at")),
            }
            for batch in batches[:MAX_BATCHES]
        ],
        "batches_omitted": max(0, len(batches) - MAX_BATCHES),
        "excerpt": [
            {**row, "timestamp": fmt_time(row.get("timestamp"))}
            for row in excerpt[:MAX_EXCERPT]
        ],
        "excerpt_shown": min(len(excerpt), MAX_EXCERPT),
        "export_name": logs.get("export_name") or "",
    }


def _alert(alert: dict) -> dict[str, Any]:
    return {
        **alert,
        "detected_at": fmt_time(alert.get("detected_at")),
        "score": fmt_exact(alert.get("score")),
        "signals": [
            {
                **signal,
                "value": fmt_exact(signal.get("value")),
                "threshold": fmt_exact(signal.get("threshold")),
                "p_value": fmt_exact(signal.get("p_value")),
            }
            for signal in alert.get("signals") or []
            if isinstance(signal, dict)
        ],
    }


def _forensic(result: dict) -> dict[str, Any]:
    statistic = result.get("statistic") or {}
    parameters = result.get("parameters") or {}
    return {
        **result,
        "method": result.get("method") or {},
        "parameters": [
            {"name": str(name), "value": fmt_value(value)}
            for name, value in sorted(parameters.items())
        ],
        "statistic": {
            "name": statistic.get("name") or "",
            "value": fmt_exact(statistic.get("value")),
        },
        "p_value": fmt_exact(result.get("p_value")),
        "alpha": fmt_exact(result.get("alpha")),
        "limitations": list(result.get("limitations") or []),
        "artefacts": list(result.get("artefacts") or []),
        "submitted_at": fmt_time(result.get("submitted_at")),
    }


def _custody(entry: dict, exhibit_hashes: dict[str, str]) -> dict[str, Any]:
    """One exhibit's ledger, as light blocks: WeasyPrint lays tables out too slowly."""
    receipt_hash = exhibit_hashes.get(entry.get("exhibit") or "")
    events = [
        _custody_event(event, receipt_hash) for event in entry.get("events") or []
    ]
    omitted = int(entry.get("omitted") or 0)
    split = entry.get("omitted_after")
    if not omitted and len(events) > CUSTODY_SHOWN:
        half = CUSTODY_SHOWN // 2
        omitted, split = len(events) - CUSTODY_SHOWN, half
        events = events[:half] + events[-half:]
    if not omitted:
        split = None
    elif split is None:
        split = len(events) // 2
    return {
        "exhibit": entry.get("exhibit") or "",
        "title": entry.get("title") or "",
        "before": events[:split] if split is not None else events,
        "after": events[split:] if split is not None else [],
        "omitted": fmt_int(omitted) if omitted else "",
    }


CUSTODY_COLUMNS = f"{'Seq':>6}  {'Action':<11}  {'When (UTC)':<19}  Actor"


def _custody_event(event: dict, receipt_hash: str | None) -> dict[str, Any]:
    parsed = parse_time(event.get("at"))
    when = parsed.strftime("%Y-%m-%d %H:%M:%S") if parsed else str(event.get("at"))
    head = (
        f"{event.get('seq', '')!s:>6}  {event.get('action') or '':<11}  "
        f"{when:<19}  {event.get('actor') or ''}"
    )
    where = " — ".join(
        str(part) for part in (event.get("location"), event.get("purpose")) if part
    )
    context = " · ".join(
        part for part in (where, fmt_details(event.get("details"))) if part
    )
    observed = event.get("sha256_observed") or ""
    return {
        "head": head,
        "context": context,
        "observed": observed,
        "matches": bool(observed) and observed == receipt_hash,
        "entry_hash": event.get("entry_hash") or "",
    }


def _checkpoint(checkpoint: dict | None) -> dict[str, Any] | None:
    if not checkpoint:
        return None
    return {
        **checkpoint,
        "tree_size": fmt_int(checkpoint.get("tree_size")),
        "signed_at": fmt_time(checkpoint.get("signed_at")),
    }


def hourly_chart(hourly: list[dict]) -> dict[str, Any] | None:
    """The activity histogram from the snapshot's hourly counts, as the PDF prints it:
    the chart of the Query logs tab (evidence/querylog_chart.py) at the page's width,
    scaled to its peak, with its bars, axis labels and caption as text."""
    counts = []
    for entry in hourly:
        hour = parse_time(entry.get("hour"))
        if hour is not None:
            hour = hour.replace(minute=0, second=0, microsecond=0)
            counts.append((hour, int(entry.get("count") or 0)))
    if not counts:
        return None
    hours = [hour for hour, _ in counts]
    step = chart_step(min(hours), max(hours), max_bars=MAX_BARS)
    chart = volume_chart(counts, step, PDF_CHART, nice_scale=False)
    peak = max(bar["count"] for bar in chart.bars)
    fmt = "%Y-%m-%d %H:00" if step.hourly else "%Y-%m-%d"
    baseline = chart.plot_bottom
    return {
        "width": chart.width,
        "height": chart.height,
        "bars": [
            {
                "x": _num(bar["x"]),
                "y": _num(bar["y"]),
                "width": _num(bar["w"]),
                "height": _num(bar["h"]),
            }
            for bar in chart.bars
            if bar["count"]
        ],
        "unit": step.unit,
        "buckets": fmt_int(step.count),
        "peak": fmt_int(peak),
        "total": fmt_int(chart.total),
        "axis_x1": _num(chart.left),
        "axis_x2": _num(chart.plot_right),
        "baseline": _num(baseline),
        "top": _num(chart.top),
        "mid": _num(chart.top + chart.plot_height / 2),
        "half_peak": fmt_int(peak // 2) if peak > 1 else "",
        "label_y": _num(baseline + 13),
        "label_left_x": _num(chart.left),
        "label_right_x": _num(chart.plot_right),
        "label_x": _num(chart.left - 4),
        "start_label": step.start.strftime(fmt),
        "end_label": step.end.strftime(fmt),
    }


# --- chart numbers -----------------------------------------------------------------


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def __getattr__(name: str) -> Any:
    # SECTION_TITLES (key -> PDF heading), read from the registry when asked for.
    if name == "SECTION_TITLES":
        return {section.key: section.title for section in dossier_sections()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
