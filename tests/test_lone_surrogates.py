"""A JSON string holding a lone UTF-16 surrogate ("\\ud800") is not text: it can be
neither sent back as UTF-8 nor stored in PostgreSQL. The API's JSON parser refuses it
anywhere in any body, key or value, with a 400 naming where it is."""

import json

import pytest

from analysis.models import Analysis
from incidents.models import Alert, Incident, Note

# Raw JSON text, so the escape reaches the server as a client would send it.
CASES = {
    "analysis parameter key": (
        "/api/v1/incidents/{ref}/analyses/",
        r'{"parameters": {"\ud800": 1}}',
        "parameters.\\ud800",
        Analysis,
    ),
    "analysis parameter value": (
        "/api/v1/incidents/{ref}/analyses/",
        r'{"parameters": {"min_rows": "\udfff"}}',
        "parameters.min_rows",
        Analysis,
    ),
    "note body": (
        "/api/v1/incidents/{ref}/notes/",
        r'{"body": "a\udc00b"}',
        "body",
        Note,
    ),
    "alert subject in a list": (
        "/api/v1/alerts/",
        r'{"source": "s", "external_id": "e", "title": "t", "severity": "low",'
        r' "detected_at": "2026-01-01T00:00:00Z",'
        r' "subjects": [{"kind": "account", "value": "x"},'
        r' {"kind": "account", "value": "\ud83d"}]}',
        "subjects[1].value",
        Alert,
    ),
    "incident title": (
        "/api/v1/incidents/",
        r'{"title": "\ud800\ud800", "kind": "other", "severity": "low"}',
        "title",
        Incident,
    ),
    "the whole document": ("/api/v1/incidents/", r'"\ud800"', None, Incident),
}


@pytest.mark.parametrize("name", CASES)
def test_a_lone_surrogate_anywhere_in_json_is_a_400_naming_where(
    name, incident, analyst, api
):
    path, raw, field, model = CASES[name]
    before = model.objects.count()
    response = api(analyst).generic(
        "POST",
        path.format(ref=incident.reference),
        raw.encode(),
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    body = json.loads(response.content.decode("utf-8"))  # strict UTF-8
    assert "surrogate" in body["detail"]
    assert [error["field"] for error in body["errors"]] == [field]
    assert model.objects.count() == before


def test_a_surrogate_pair_is_one_character_and_is_kept(incident, analyst, api):
    response = api(analyst).generic(
        "POST",
        f"/api/v1/incidents/{incident.reference}/notes/",
        rb'{"body": "caf\u00e9 \ud83d\ude00"}',
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert Note.objects.get().body == "café \N{GRINNING FACE}"
