"""One set of number and time formatters for the PDF: a figure that was recorded, or
that defines a run, prints exactly; a figure Casebook computed reads rounded."""

import pytest

from analysis.models import Analysis
from analysis.services import analysis_request
from config.formats import fmt_exact, fmt_rounded, fmt_stamp, fmt_time
from dossiers.sections import section_get
from dossiers.snapshot import Case
from tests.analysis.conftest import add_logs


@pytest.fixture(autouse=True)
def _isolated_files(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_an_analysis_parameter_is_printed_exactly_as_recorded(
    incident, analyst, service_user, django_capture_on_commit_callbacks
):
    # given: an analysis run with parameters of more than three significant digits
    add_logs(incident, service_user)
    with django_capture_on_commit_callbacks(execute=True):
        analysis = analysis_request(
            incident=incident,
            by=analyst,
            parameters={"chance_partners": 0.012345, "max_share": 0.3125},
        )
    assert Analysis.objects.get(pk=analysis.pk).status == "done"
    # when: a dossier captures its section
    section = section_get("analysis").build(Case(incident))
    # then: the parameters read as recorded, so the run (and the printed
    # parameters' SHA-256) can be reproduced from the PDF
    printed = {p["name"]: p["value"] for p in section["parameters"]}
    assert printed["chance_partners"] == "0.012345"
    assert printed["max_share"] == "0.3125"
    assert printed["max_group"] == "1000"


def test_recorded_figures_are_exact_and_computed_ones_rounded():
    assert fmt_exact(0.0499996) == "0.0499996"
    assert fmt_rounded(0.0499996) == "0.05"
    assert fmt_exact(None) == fmt_rounded(None) == "—"
    assert fmt_rounded(0.125, "rate") == "12.5%"
    assert fmt_rounded(12345.6) == "12,346"


def test_times_read_in_utc_whatever_zone_they_were_written_in():
    assert fmt_time("2026-01-05T14:04:05+01:00") == "2026-01-05 13:04:05 UTC"
    assert fmt_stamp("2026-01-05T13:04:05.123456Z") == "2026-01-05 13:04:05"
    assert fmt_time("not a time") == "not a time"
    assert fmt_time(None) == fmt_stamp(None) == ""
