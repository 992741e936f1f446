"""Query-log times: ingestion accepts the years 2000 to 2099 (UTC) and refuses the
rest with a line error; rows at both ends of that window work everywhere they are
shown or analysed (page, stats, dossier chart and summary, analysis)."""

import io

import pytest
from django.db import connection

from analysis.models import Analysis
from analysis.services import analysis_request
from evidence.models import QueryLogRow
from tests.evidence.test_query_logs import ndjson, nothing_stored, post, record

EARLIEST = "2000-01-01T00:00:00Z"
LATEST = "2099-12-31T23:59:59.999999Z"


@pytest.fixture(autouse=True)
def _files_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DOSSIER_SIGNING_KEY_PATH = tmp_path / "keys" / "signing.key"
    settings.DOSSIER_SIGNING_CERT_PATH = tmp_path / "keys" / "signing.crt"
    settings.DOSSIER_TSA_URL = ""


@pytest.fixture
def tool(service_user, api):
    return api(service_user, "ingest")


@pytest.mark.parametrize(
    "moment",
    [
        "9999-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
        "1999-12-31T23:59:59.999999Z",
        "2000-01-01T00:30:00+01:00",  # 1999-12-31T23:30:00Z
        "0001-01-01T00:00:00Z",
    ],
)
def test_a_time_outside_2000_to_2099_is_a_line_error(moment, incident, tool):
    response = post(tool, incident, ndjson([record(0), record(1, timestamp=moment)]))
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["line"], error["field"]) == (2, "timestamp")
    assert "2000 to 2099" in error["message"]
    assert nothing_stored()


@pytest.fixture
def boundary(incident, tool):
    rows = [
        record(0, timestamp=EARLIEST, account_id="acct_edge"),
        record(1, timestamp="2050-06-15T12:00:00Z", account_id="acct_edge"),
        record(2, timestamp=LATEST, account_id="acct_edge"),
        record(3, timestamp=LATEST, account_id="acct_other"),
    ]
    response = post(tool, incident, ndjson(rows))
    assert response.status_code == 201, response.content
    return incident


def test_rows_at_both_ends_of_the_window_show_on_the_query_logs_page(
    boundary, analyst, client
):
    client.force_login(analyst)
    response = client.get(f"/incidents/{boundary.reference}/query-logs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "acct_edge" in page
    assert "2000-01-01" in page and "2099-12-31" in page


def test_rows_at_both_ends_of_the_window_count_in_the_stats(boundary, analyst, api):
    response = api(analyst).get(
        f"/api/v1/incidents/{boundary.reference}/query-logs/stats/"
    )
    assert response.status_code == 200
    stats = response.json()
    assert stats["rows"] == 4
    edge = next(a for a in stats["accounts"] if a["account_id"] == "acct_edge")
    assert edge["first_seen"] == "2000-01-01T00:00:00.000000Z"
    assert edge["last_seen"] == "2099-12-31T23:59:59.999999Z"
    assert stats["hourly"][0] == {"hour": "2000-01-01T00:00:00.000000Z", "count": 1}
    assert stats["hourly"][-1] == {"hour": "2099-12-31T23:00:00.000000Z", "count": 2}


def test_rows_at_both_ends_of_the_window_render_in_a_dossier(
    boundary, counsel, api, django_capture_on_commit_callbacks
):
    import pikepdf

    client = api(counsel)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/incidents/{boundary.reference}/dossiers/", {}, format="json"
        )
    assert response.status_code == 202, response.content
    job = client.get(response.json()["url"]).json()
    assert job["status"] == "done", job
    pdf = b"".join(client.get(job["pdf_url"]).streaming_content)
    with pikepdf.open(io.BytesIO(pdf)) as document:
        export = document.attachments["query-logs.csv"].get_file().read_bytes()
    assert b"2000-01-01T00:00:00.000000Z" in export
    assert b"2099-12-31T23:59:59.999999Z" in export


def test_rows_at_both_ends_of_the_window_are_analysed(
    boundary, analyst, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        analysis = analysis_request(incident=boundary, by=analyst)
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.DONE, analysis.error


def test_a_row_stored_before_the_window_existed_does_not_break_the_page_or_stats(
    boundary, analyst, api, client
):
    # given: a row at the end of the calendar, as stored before times were checked
    # (rows are append-only, so it can never be removed)
    legacy = QueryLogRow.objects.filter(incident=boundary).first()
    legacy.pk = None
    legacy.line, legacy.account_id = 99, "acct_legacy"
    legacy.timestamp = legacy.timestamp.replace(year=9999, month=12, day=31, hour=23)
    legacy.save()
    assert connection.vendor in ("sqlite", "postgresql")
    # then: the page and the stats still answer
    client.force_login(analyst)
    page = client.get(f"/incidents/{boundary.reference}/query-logs/")
    assert page.status_code == 200
    assert "acct_legacy" in page.content.decode()
    stats = api(analyst).get(
        f"/api/v1/incidents/{boundary.reference}/query-logs/stats/"
    )
    assert stats.status_code == 200
    assert stats.json()["hourly"][-1]["hour"] == "9999-12-31T23:00:00.000000Z"
