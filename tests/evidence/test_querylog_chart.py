"""The query-log volume chart, one computation for the Query logs tab and the PDF."""

from datetime import UTC, datetime, timedelta

from dossiers import rendering
from evidence.querylog_chart import Frame, chart_step, volume_chart

FRAME = Frame(width=1100, height=230, left=56, right=24, top=10, bottom=40)
START = datetime(2026, 1, 1, 23, tzinfo=UTC)


def test_a_long_span_never_draws_more_bars_than_the_cap():
    # given: activity from 23:00 on one day to midnight 400 days later: 401
    # calendar days, but fewer than 400 x 24 hours
    last = datetime(2027, 2, 5, 0, tzinfo=UTC)
    assert (last.date() - START.date()).days + 1 == 401
    hourly = [
        {"hour": START.isoformat(), "count": 3},
        {"hour": last.isoformat(), "count": 5},
    ]
    # when: the PDF draws it
    chart = rendering.hourly_chart(hourly)
    # then: bars of two days each, never more than the PDF's cap
    assert chart["unit"] == "2 days"
    assert int(chart["buckets"]) <= rendering.MAX_BARS
    assert chart["total"] == "8" and len(chart["bars"]) == 2


def test_the_page_and_the_pdf_cut_the_same_span_the_same_way():
    last = START + timedelta(hours=500)
    page = chart_step(START, last, max_bars=2000)
    pdf = chart_step(START, last, max_bars=400)
    assert (page.unit, page.count) == ("hour", 501)
    assert (pdf.unit, pdf.count) == ("day", 22)
    assert pdf.start == datetime(2026, 1, 1, tzinfo=UTC)


def test_an_hour_with_one_row_stays_visible_beside_a_tall_peak():
    step = chart_step(START, START + timedelta(hours=1), max_bars=2000)
    chart = volume_chart(
        [(START, 1), (START + timedelta(hours=1), 1_000_000)], step, FRAME
    )
    small, tall = chart.bars
    assert small["h"] > 0.5 and tall["h"] > small["h"]
    assert chart.peak["count"] == 1_000_000 and chart.total == 1_000_001
