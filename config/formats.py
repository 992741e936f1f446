"""How numbers and times read, in the dossier PDF and on the pages: one set of
formatters, so the same figure never reads two ways in one document.

Numbers follow one of two rules, on purpose:

- `fmt_exact`: a figure Casebook received or that defines a run (a forensic
  statistic, its p-value and alpha, a detector's score and signal values, the
  parameters of a result or of an analysis) prints exactly as recorded, in its
  shortest round-trip form. A court document must not change a recorded figure:
  0.0499996 is not "0.05" next to an alpha of 0.05, and a parameter rounded in
  print cannot be typed back to reproduce the run or its printed SHA-256.
- `fmt_rounded`: a figure Casebook computed for the reader (signals, baselines,
  weights, rates, correlations) prints to three significant digits or as a
  percentage; the exact values are in the analysis exhibit the page names.

Times print in UTC: `fmt_time` with the zone spelt out, `fmt_stamp` in columns whose
heading says "(UTC)". RFC 3339 text for machines is `config.rfc3339`.
"""

import math
from datetime import UTC, datetime
from typing import Any

MISSING = "—"


def parse_time(value: Any) -> datetime | None:
    """A datetime or ISO 8601 text as an aware UTC datetime; None when it is neither.
    A time without a zone is taken as UTC, which is how Casebook writes them."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def fmt_time(value: Any) -> str:
    """ "2026-01-05 13:04:05 UTC"; unparseable text passes through, None is blank."""
    parsed = parse_time(value)
    if parsed is None:
        return "" if value is None else str(value)
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_stamp(value: Any) -> str:
    """The compact form for table columns whose heading says "(UTC)"."""
    parsed = parse_time(value)
    if parsed is None:
        return "" if value is None else str(value)
    return parsed.strftime("%Y-%m-%d %H:%M:%S")


def fmt_date(value: Any) -> str:
    """ "January 5, 2026"."""
    parsed = parse_time(value)
    if parsed is None:
        return "" if value is None else str(value)
    return f"{parsed:%B} {parsed.day}, {parsed.year}"


def fmt_int(value: Any) -> str:
    """A count with thousands separators: "1,234,567"."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "" if value is None else str(value)
    return f"{value:,}"


def fmt_exact(value: Any) -> str:
    """A recorded figure exactly as recorded (shortest round-trip form), never
    rounded; see the module docstring."""
    if value is None:
        return MISSING
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def fmt_rounded(value: Any, kind: str = "number") -> str:
    """A computed figure for reading: `kind` "count" (1,234), "rate" (12.5%),
    "corr" (0.87) or "number" (three significant digits, whole above 1,000)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if kind == "count":
        return f"{int(value):,}"
    if kind == "rate":
        return f"{100 * value:.1f}%"
    if kind == "corr":
        return f"{value:.2f}"
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def fmt_p(value: Any) -> str:
    """A computed p-value as "p = 0.012" (or "p = 3.1e-05" when small)."""
    if value is None:
        return ""
    if value == 0:
        return "p < 1e-300"
    return f"p = {value:.2g}" if value < 0.001 else f"p = {value:.3f}"


def fmt_value(value: Any) -> str:
    """A recorded value of any JSON shape, on one line, numbers exact."""
    if isinstance(value, dict):
        return ", ".join(f"{k}: {fmt_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(fmt_value(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | int):
        return fmt_exact(value)
    return "" if value is None else str(value)


def fmt_details(details: Any) -> str:
    if not details:
        return ""
    if isinstance(details, dict):
        return "; ".join(f"{k}: {fmt_value(v)}" for k, v in details.items())
    return fmt_value(details)


def fmt_size(size: Any) -> str:
    """Human size; the exact byte count is printed next to it (`fmt_int`)."""
    if not isinstance(size, int) or isinstance(size, bool):
        return "" if size is None else str(size)
    value, unit = float(size), "B"
    for bigger in ("KiB", "MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{size} B" if unit == "B" else f"{value:,.1f} {unit}"
