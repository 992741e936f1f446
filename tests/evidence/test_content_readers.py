"""One content-reader rule: detection tools never read forensic results back, and
nobody who may not see privileged items learns them from a forensic result."""

import math
import subprocess
import sys
import zipfile

import pytest

from evidence.models import CustodyEvent, Evidence, ForensicResult
from incidents.models import HistoryEntry
from tests.evidence.conftest import upload
from tests.evidence.test_verification import VERIFY_PY, bundle

Z = 9.81
MEMO_TITLE = "Counsel memo on the reseller"


def submission(artefacts: list[int]) -> dict:
    return {
        "method": {"family": "watermark", "name": "kirchenbauer-z", "version": "1.3"},
        "suspect_model": "rival-7b",
        "parameters": {"gamma": 0.25},
        "statistic": {"name": "z", "value": Z},
        "p_value": 0.5 * math.erfc(Z / math.sqrt(2)),
        "alpha": 0.01,
        "verdict": "supports",
        "summary": "Green-list rate far above chance.",
        "artefacts": artefacts,
    }


@pytest.fixture
def recorded(incident, analyst, counsel, api):
    """A result over a public export and a privileged memo, recorded by an analyst
    (who may see privileged items)."""
    public = upload(api(analyst), incident.reference, b"suspect outputs").json()
    memo = upload(
        api(counsel),
        incident.reference,
        b"privileged memo",
        "memo.txt",
        title=MEMO_TITLE,
        privileged="true",
    ).json()
    response = api(analyst).post(
        f"/api/v1/incidents/{incident.reference}/forensic-results/",
        submission([public["id"], memo["id"]]),
        format="json",
    )
    assert response.status_code == 201, response.content
    return {"result": response.json(), "public": public, "memo": memo}


def state() -> tuple:
    return (
        CustodyEvent.objects.count(),
        HistoryEntry.objects.count(),
        Evidence.objects.count(),
        ForensicResult.objects.count(),
    )


CALLERS = ["anonymous", "outsider", "service_user", "reviewer", "analyst", "admin"]


@pytest.mark.parametrize("scope", ["read", "write"])
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("what", ["list", "detail"])
def test_forensic_result_contents_role_matrix(
    what, caller, scope, recorded, incident, request, api
):
    # given
    client = (
        api() if caller == "anonymous" else api(request.getfixturevalue(caller), scope)
    )
    url = (
        f"/api/v1/incidents/{incident.reference}/forensic-results/"
        if what == "list"
        else recorded["result"]["url"]
    )
    before = state()
    # when
    response = client.get(url)
    # then: detection tools are refused as the contract says for a role (403)
    expected = {"anonymous": 401, "outsider": 404, "service_user": 403}.get(caller, 200)
    assert response.status_code == expected, response.content[:300]
    assert state() == before  # nothing recorded, on denial or not
    if expected == 403:
        body = response.json()
        assert set(body) == {"detail", "errors"}
        assert "rival-7b" not in response.content.decode()


def test_a_service_account_gets_no_result_even_for_an_id_that_does_not_exist(
    service_user, api
):
    response = api(service_user, "read").get("/api/v1/forensic-results/999999/")
    assert response.status_code == 403  # the same answer whether it exists or not


def test_a_service_account_still_posts_results_and_sees_what_it_sent(
    incident, service_user, api
):
    response = api(service_user, "ingest").post(
        f"/api/v1/incidents/{incident.reference}/forensic-results/",
        submission([]),
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["suspect_model"] == "rival-7b"


def test_the_forensic_results_page_does_not_exist_for_a_service_account(
    incident, service_user, client
):
    client.force_login(service_user)
    before = state()
    response = client.get(f"/incidents/{incident.reference}/forensic-results/")
    assert response.status_code == 404
    assert state() == before


def test_a_reviewer_sees_only_the_artefacts_they_may_see(
    recorded, reviewer, counsel, api
):
    client = api(reviewer, "read")
    detail = client.get(recorded["result"]["url"])
    listed = client.get(
        f"/api/v1/incidents/{recorded['result']['incident']}/forensic-results/"
    )
    assert detail.status_code == listed.status_code == 200
    assert detail.json()["artefacts"] == [recorded["public"]["id"]]
    assert listed.json()["results"][0]["artefacts"] == [recorded["public"]["id"]]
    for response in (detail, listed):
        assert MEMO_TITLE not in response.content.decode()
    # while counsel sees both
    both = api(counsel, "read").get(recorded["result"]["url"])
    assert sorted(both.json()["artefacts"]) == sorted(
        [recorded["public"]["id"], recorded["memo"]["id"]]
    )


def test_the_forensic_results_page_shows_a_reviewer_no_privileged_artefact(
    recorded, incident, reviewer, client
):
    client.force_login(reviewer)
    page = client.get(f"/incidents/{incident.reference}/forensic-results/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "rival-7b" in html
    assert MEMO_TITLE not in html
    assert f"/evidence/{recorded['memo']['id']}/" not in html
    assert recorded["memo"]["exhibit"] not in html


def test_a_reviewer_cannot_download_a_submission_that_names_privileged_exhibits(
    recorded, reviewer, analyst, api
):
    # the submission's bytes list every artefact with its id, exhibit and hash
    url = recorded["result"]["evidence"]["download_url"]
    before = state()
    assert api(reviewer, "read").get(url).status_code == 403
    assert api(reviewer, "read").head(url).status_code == 403
    assert state() == before
    assert api(analyst).get(url).status_code == 200


def test_a_reviewers_bundle_leaves_out_a_submission_naming_privileged_exhibits(
    recorded, incident, reviewer, api, tmp_path
):
    path = bundle(api(reviewer, "read"), incident, tmp_path)
    submission_exhibit = recorded["result"]["evidence"]["exhibit"]
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert not [n for n in names if n.startswith(f"files/{submission_exhibit}")]
    assert [n for n in names if n.startswith(f"files/{recorded['public']['exhibit']}")]
    run = subprocess.run(
        [sys.executable, str(VERIFY_PY), str(path)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout
