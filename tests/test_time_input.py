"""Every time the API reads (body fields and query filters) is RFC 3339 with an offset,
parsed in one place: an impossible or unrepresentable time is a 400 naming the field,
never a 500, and nothing is stored."""

from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from config import rfc3339
from evidence.models import Evidence
from incidents.models import Alert, Incident, TimelineEntry

IMPOSSIBLE = [
    "2026-02-30T10:00:00Z",  # no 30 February
    "2026-01-01T25:00:00Z",  # no hour 25
    "2026-01-01T10:60:00Z",
    "2026-13-01T10:00:00Z",
    "2026-00-10T10:00:00Z",
    "2026-12-31T23:59:60Z",  # a leap second: RFC 3339's, but no datetime holds it
    "2026-01-01T10:00:00+24:00",  # an offset no clock has
    "0001-01-01T00:30:00+01:00",  # before year 1 once in UTC
    "9999-12-31T23:30:00-01:00",  # after year 9999 once in UTC
    "2026-01-01T10:00:00",  # no offset: ambiguous
    "2026-01-01",
    "tomorrow",
]


def post_incident(client, incident, value):
    return client.post(
        "/api/v1/incidents/",
        {"title": "t", "kind": "other", "severity": "low", "detected_at": value},
        format="json",
    )


def post_timeline(client, incident, value):
    return client.post(
        f"/api/v1/incidents/{incident.reference}/timeline/",
        {"occurred_at": value, "title": "t"},
        format="json",
    )


def post_alert(client, incident, value):
    return client.post(
        "/api/v1/alerts/",
        {
            "source": "s",
            "external_id": "e",
            "title": "t",
            "severity": "low",
            "detected_at": value,
            "incident": incident.reference,
        },
        format="json",
    )


def post_evidence(client, incident, value):
    return client.post(
        f"/api/v1/incidents/{incident.reference}/evidence/",
        {
            "file": SimpleUploadedFile("a.txt", b"a"),
            "title": "t",
            "collected_at": value,
        },
        format="multipart",
    )


def query_logs_since(client, incident, value):
    return client.get(
        f"/api/v1/incidents/{incident.reference}/query-logs/", {"since": value}
    )


def query_logs_until(client, incident, value):
    return client.get(
        f"/api/v1/incidents/{incident.reference}/query-logs/", {"until": value}
    )


# (request, field named in the answer, what a refusal must leave unchanged)
INPUTS = {
    "incident detected_at": (post_incident, "detected_at", Incident),
    "timeline occurred_at": (post_timeline, "occurred_at", TimelineEntry),
    "alert detected_at": (post_alert, "detected_at", Alert),
    "evidence collected_at": (post_evidence, "collected_at", Evidence),
    "query-log since": (query_logs_since, "since", None),
    "query-log until": (query_logs_until, "until", None),
}


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.mark.parametrize("value", IMPOSSIBLE)
@pytest.mark.parametrize("name", INPUTS)
def test_an_impossible_time_is_a_400_naming_the_field_and_stores_nothing(
    name, value, incident, analyst, api
):
    send, field, model = INPUTS[name]
    before = model.objects.count() if model else None
    response = send(api(analyst), incident, value)
    assert response.status_code == 400, response.content
    body = response.json()
    assert [error["field"] for error in body["errors"]] == [field]
    assert any(
        word in body["detail"] for word in ("RFC 3339", "calendar", "second", "9999")
    )
    if model:
        assert model.objects.count() == before


@pytest.mark.parametrize("name", INPUTS)
def test_a_time_with_any_offset_is_accepted_as_the_same_instant(
    name, incident, analyst, api
):
    send, _, _ = INPUTS[name]
    response = send(api(analyst), incident, "2026-03-01t13:30:00.1234567+01:30")
    assert response.status_code in (200, 201), response.content


@pytest.mark.parametrize(
    "text, instant",
    [
        ("2026-03-01T12:00:00Z", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("2026-03-01t12:00:00z", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("2026-03-01 12:00:00+02:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T00:00:00-00:30", datetime(2026, 3, 1, 0, 30, tzinfo=UTC)),
        # Digits past the microsecond are cut, never rounded into the next second.
        (
            "2026-03-01T23:59:59.9999999Z",
            datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC),
        ),
        ("2024-02-29T00:00:00Z", datetime(2024, 2, 29, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
        ("9999-12-31T23:59:59Z", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_the_parser_reads_rfc_3339_as_an_instant_in_utc(text, instant):
    parsed = rfc3339.parse(text)
    assert parsed == instant and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        *IMPOSSIBLE,
        "2026-03-01T12:00Z",  # ISO 8601 allows no seconds; RFC 3339 does not
        "20260301T120000Z",
        "2026-03-01T12:00:00+0100",
        "2026-03-01T12:00:00+01",
        "2026-03-01T12:00:00.Z",
        "٢٠٢٦-03-01T12:00:00Z",  # digits of another script
        "",
        None,
        20260301,
    ],
)
def test_the_parser_refuses_anything_else_with_a_sentence(text):
    with pytest.raises(rfc3339.InvalidTime) as refused:
        rfc3339.parse(text)
    assert str(refused.value).endswith(".")
