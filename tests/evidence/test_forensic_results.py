"""Forensic results (contract: "Forensic results"): checked against their own
statistics and kept as evidence with their own custody."""

import math

import pytest

from evidence.models import CustodyEvent, Evidence, ForensicResult
from tests.evidence.conftest import upload
from tests.factories import make_incident

Z = 9.81


def result(**overrides) -> dict:
    body = {
        "method": {"family": "watermark", "name": "kirchenbauer-z", "version": "1.3"},
        "suspect_model": "rival-7b",
        "parameters": {"gamma": 0.25, "tokens": 12000},
        "statistic": {"name": "z", "value": Z},
        "p_value": 0.5 * math.erfc(Z / math.sqrt(2)),
        "alpha": 0.01,
        "verdict": "supports",
        "summary": "Green-list rate far above chance in the suspect's outputs.",
        "limitations": ["Assumes the suspect sampled without paraphrasing."],
        "artefacts": [],
    }
    body.update(overrides)
    return body


def post(client, incident, body):
    return client.post(
        f"/api/v1/incidents/{incident.reference}/forensic-results/", body, format="json"
    )


def test_result_is_kept_as_evidence_with_custody_on_its_artefacts(
    incident, analyst, service_user, api
):
    # given: an artefact the analysis used
    artefact = upload(api(analyst), incident.reference, b"suspect outputs").json()
    # when
    response = post(
        api(service_user, "ingest"), incident, result(artefacts=[artefact["id"]])
    )
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["verdict"] == "supports" and body["artefacts"] == [artefact["id"]]
    assert body["evidence"]["kind"] == "forensic_result"
    assert body["url"].endswith(f"/api/v1/forensic-results/{body['id']}/")
    stored = Evidence.objects.get(pk=body["evidence"]["id"])
    assert stored.custody.get().action == "received"
    analysed = CustodyEvent.objects.get(evidence_id=artefact["id"], action="analysed")
    assert analysed.details["tool"] == "kirchenbauer-z"
    assert analysed.details["tool_version"] == "1.3"
    listed = api(analyst).get(
        f"/api/v1/incidents/{incident.reference}/forensic-results/"
    )
    assert listed.json()["count"] == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (
            {
                "verdict": "supports",
                "p_value": 0.2,
                "statistic": {"name": "chi2", "value": 1},
            },
            "verdict",
        ),
        (
            {
                "p_value": 1.5,
                "verdict": "inconclusive",
                "statistic": {"name": "t", "value": 1},
            },
            "p_value",
        ),
        (
            {
                "p_value": -0.1,
                "verdict": "inconclusive",
                "statistic": {"name": "t", "value": 1},
            },
            "p_value",
        ),
        ({"p_value": 0.001}, "p_value"),  # z = 9.81 implies ~5e-23
        (
            {
                "statistic": {"name": "z-score", "value": 2.0},
                "p_value": 0.03,
                "verdict": "inconclusive",
            },
            "p_value",
        ),
        ({"verdict": "proves"}, "verdict"),
        ({"alpha": 0}, "alpha"),
        ({"method": {"family": "watermark", "name": "x"}}, "method.version"),
        ({"parameters": [1, 2]}, "parameters"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_results_are_refused(overrides, field, incident, analyst, api):
    response = post(api(analyst), incident, result(**overrides))
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == field
    assert ForensicResult.objects.count() == 0 and Evidence.objects.count() == 0


def test_z_score_within_one_percent_is_accepted(incident, analyst, api):
    exact = 0.5 * math.erfc(2.0 / math.sqrt(2))
    body = result(
        statistic={"name": "z", "value": 2.0},
        p_value=exact * 1.005,
        verdict="inconclusive",
    )
    assert post(api(analyst), incident, body).status_code == 201


def test_a_negative_result_is_recorded_too(incident, analyst, api):
    body = result(
        statistic={"name": "agreement", "value": 0.51},
        p_value=0.4,
        verdict="does_not_support",
    )
    assert post(api(analyst), incident, body).status_code == 201


def test_artefact_of_another_incident_is_refused(incident, analyst, api):
    other = make_incident(by=analyst)
    foreign = upload(api(analyst), other.reference, b"other case").json()
    response = post(api(analyst), incident, result(artefacts=[foreign["id"]]))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "artefacts[0]"
    assert ForensicResult.objects.count() == 0
    assert not CustodyEvent.objects.filter(action="analysed").exists()


def test_reviewer_cannot_record_and_outsider_sees_nothing(
    incident, reviewer, outsider, api
):
    assert post(api(reviewer), incident, result()).status_code == 403
    assert post(api(outsider), incident, result()).status_code == 404
    assert (
        api(outsider)
        .get(f"/api/v1/incidents/{incident.reference}/forensic-results/")
        .status_code
        == 404
    )


def test_a_nul_character_inside_parameters_is_bad_input(incident, analyst, api):
    response = post(api(analyst), incident, result(parameters={"note": "a\u0000b"}))
    assert response.status_code == 400
    assert ForensicResult.objects.count() == 0 and Evidence.objects.count() == 0


def test_an_artefact_the_caller_cannot_see_is_refused(
    incident, counsel, service_user, api
):
    memo = upload(api(counsel), incident.reference, b"memo", privileged="true").json()
    response = post(
        api(service_user, "ingest"), incident, result(artefacts=[memo["id"]])
    )
    assert response.status_code == 400
    assert not CustodyEvent.objects.filter(action="analysed").exists()


@pytest.mark.parametrize("literal", [b"1e999", b"-1e999", b"NaN", b"Infinity"])
def test_a_non_finite_number_anywhere_in_a_result_is_refused(
    literal, incident, analyst, api
):
    # given: a body whose parameters hold a number JSON cannot carry (1e999 overflows
    # to infinity when parsed; NaN and Infinity are not JSON at all)
    body = (
        b'{"method": {"family": "watermark", "name": "z", "version": "1"},'
        b' "suspect_model": "rival-7b", "parameters": {"gamma": ' + literal + b"},"
        b' "statistic": {"name": "z", "value": 1.0}, "p_value": 0.158655,'
        b' "alpha": 0.01, "verdict": "inconclusive", "summary": "s"}'
    )
    client = api(analyst)
    # when
    response = client.generic(
        "POST",
        f"/api/v1/incidents/{incident.reference}/forensic-results/",
        body,
        content_type="application/json",
    )
    # then: a 400, and nothing kept
    assert response.status_code == 400, response.content
    assert ForensicResult.objects.count() == 0
