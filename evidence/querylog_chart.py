"""The query-log volume chart, computed once for the Query logs tab and the dossier
PDF: buckets of rows over time and the bars, grid and labels that draw them. Pure
computation; each template draws the result at its own size.

A span that fits in `max_bars` hours gets one bar per hour; a longer one gets one bar
per day, or per several days when even days are too many, so the number of bars
never passes `max_bars` however long the span.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

LABEL_STEPS_HOURS = (1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720, 2160, 4320, 8760)
MIN_BAR_HEIGHT = 0.6  # a bucket with rows stays visible beside a tall peak


@dataclass(frozen=True)
class Step:
    """How the span from the first to the last row is cut into bars."""

    start: datetime  # the first bucket's start, UTC
    width: timedelta
    count: int  # number of buckets
    unit: str  # "hour", "day" or "N days"

    @property
    def hourly(self) -> bool:
        return self.width < timedelta(days=1)

    @property
    def end(self) -> datetime:
        """The last bucket's start."""
        return self.start + self.width * (self.count - 1)


def chart_step(first: datetime, last: datetime, *, max_bars: int) -> Step:
    """The buckets for rows from `first` to `last`: per hour when the span fits in
    `max_bars` bars, else per day, grouped into several days per bar if still too
    many. Callers that count in the database ask for daily counts when not hourly."""
    first, last = first.astimezone(UTC), last.astimezone(UTC)
    start = first.replace(minute=0, second=0, microsecond=0)
    hours = int((last - start) / timedelta(hours=1)) + 1
    if hours <= max_bars:
        width, unit = timedelta(hours=1), "hour"
    else:
        start = start.replace(hour=0)
        days = (last - start).days + 1
        per = math.ceil(days / max_bars)
        width, unit = timedelta(days=per), "day" if per == 1 else f"{per} days"
    return Step(
        start=start, width=width, count=int((last - start) / width) + 1, unit=unit
    )


@dataclass(frozen=True)
class Frame:
    """The drawing's size and the margins around its plot area, in SVG units."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int


@dataclass
class Chart:
    step: Step
    frame: Frame
    y_max: int  # the count at the top of the plot area
    bars: list[dict] = field(default_factory=list)  # one per bucket, empty ones too
    grid: list[dict] = field(default_factory=list)
    labels: list[dict] = field(default_factory=list)
    peak: dict = field(default_factory=dict)  # the first highest bucket
    total: int = 0

    # The frame, as the page template reads it.
    @property
    def unit(self) -> str:
        return self.step.unit

    @property
    def width(self) -> int:
        return self.frame.width

    @property
    def height(self) -> int:
        return self.frame.height

    @property
    def left(self) -> int:
        return self.frame.left

    @property
    def top(self) -> int:
        return self.frame.top

    @property
    def plot_bottom(self) -> int:
        return self.frame.height - self.frame.bottom

    @property
    def plot_height(self) -> int:
        return self.plot_bottom - self.frame.top

    @property
    def plot_right(self) -> int:
        return self.frame.width - self.frame.right


def _nice_step(top: int, ticks: int = 4) -> int:
    raw = max(top / ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return int(factor * magnitude)
    return int(10 * magnitude)


def _plus(at: datetime, width: timedelta) -> datetime:
    """The end of a bucket, held at the calendar's last instant: rows stored before
    ingestion refused times past 2099 can sit in the year 9999's last hour."""
    try:
        return at + width
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def volume_chart(
    counts: Iterable[tuple[datetime, int]],
    step: Step,
    frame: Frame,
    *,
    nice_scale: bool = True,
) -> Chart:
    """Bars for `counts` ((bucket start, rows) per hour, or per day when the step is
    not hourly). With `nice_scale` the plot's top is the peak rounded up to a round
    step and gridlines mark each step; without, the top is the peak itself."""
    values = [0] * step.count
    for at, count in counts:
        values[int((at.astimezone(UTC) - step.start) / step.width)] += count
    top = max(values) or 1
    if nice_scale:
        tick = _nice_step(top)
        y_max = math.ceil(top / tick) * tick
    else:
        tick, y_max = top, top
    chart = Chart(step=step, frame=frame, y_max=y_max, total=sum(values))
    plot_w = chart.plot_right - frame.left
    plot_h = chart.plot_height
    for value in range(0, y_max + 1, tick):
        y = chart.plot_bottom - plot_h * value / y_max
        chart.grid.append({"y": round(y, 2), "value": f"{value:,}"})

    slot = plot_w / step.count
    gap = slot * 0.2 if slot >= 4 else 0
    width = step.width
    every = next(
        (
            h
            for h in LABEL_STEPS_HOURS
            if h * 3600 >= width.total_seconds()
            and step.count * width.total_seconds() / (h * 3600) <= 12
        ),
        LABEL_STEPS_HOURS[-1],
    )
    previous_mark, previous_label = None, None
    for i, count in enumerate(values):
        at = step.start + width * i
        height = plot_h * count / y_max
        if count:
            height = max(height, MIN_BAR_HEIGHT)
        x = frame.left + slot * i
        end = _plus(at, width)
        when = (
            f"{at:%Y-%m-%d %H:00}–{end:%H:00} UTC"
            if step.hourly
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
            chart.peak = {"at": at, "count": count, "hourly": step.hourly}
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
