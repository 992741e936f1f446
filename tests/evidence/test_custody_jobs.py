"""Custody verification and the custody bundle of a large case run as jobs with
progress (202, then poll); a small case stays synchronous; `exported` is recorded
only for a bundle that was completely built."""

import hashlib
import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.models import User
from evidence.models import CustodyBundle, CustodyEvent, CustodyVerification, Evidence
from jobs.services import job_recover_stale
from tests.evidence.conftest import upload
from tests.evidence.test_verification import VERIFY_PY, plain_python


@pytest.fixture
def case(incident, analyst, api):
    client = api(analyst)
    first = upload(client, incident.reference, b"gateway export 1", "export.csv")
    upload(client, incident.reference, b"second stored file", "report.pdf")
    assert first.status_code == 201
    return incident


@pytest.fixture
def large(settings):
    """Every case is large: its work runs as a job."""
    settings.CUSTODY_SYNC_MAX_BYTES = 10


def verify_url(incident) -> str:
    return f"/api/v1/incidents/{incident.reference}/verify/"


def bundle_url(incident) -> str:
    return f"/api/v1/incidents/{incident.reference}/custody-bundle/"


def exported() -> int:
    return CustodyEvent.objects.filter(action="exported").count()


def test_a_case_at_the_limit_verifies_and_bundles_inside_the_request(
    case, analyst, api, settings
):
    settings.CUSTODY_SYNC_MAX_BYTES = sum(e.size for e in Evidence.objects.all())
    client = api(analyst)
    response = client.post(verify_url(case))
    assert response.status_code == 200
    assert response.json() == {"ok": True, "checked": 2, "failures": []}
    response = client.get(bundle_url(case))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert not CustodyVerification.objects.exists()
    assert not CustodyBundle.objects.exists()


def test_a_large_case_verification_is_a_job_that_answers_as_the_request_would(
    case, analyst, api, settings, django_capture_on_commit_callbacks
):
    # given: one stored file replaced on disk
    item = Evidence.objects.select_related("blob").order_by("pk").first()
    path = Path(settings.MEDIA_ROOT) / item.blob.storage_name
    os.chmod(path, 0o640)
    path.write_bytes(b"tampered")
    client = api(analyst)
    settings.CUSTODY_SYNC_MAX_BYTES = 10
    # when: verified as a job
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(verify_url(case))
        assert response.status_code == 202
        queued = response.json()
        assert not CustodyEvent.objects.filter(action="verified").exists()
    # then: 202 with the job as requested, and where to poll
    assert (queued["status"], queued["progress"]) == ("queued", 0)
    assert queued["url"].endswith(f"/api/v1/custody-verifications/{queued['id']}/")
    assert response["Location"] == queued["url"]
    assert queued["ok"] is None and queued["failures"] is None
    job = client.get(queued["url"]).json()
    assert (job["status"], job["progress"], job["stage"]) == ("done", 100, "Done")
    assert CustodyEvent.objects.filter(action="verified").count() == 2
    # and: the same answer as the synchronous check
    settings.CUSTODY_SYNC_MAX_BYTES = 10**12
    synchronous = client.post(verify_url(case)).json()
    assert synchronous["ok"] is False
    assert {k: job[k] for k in ("ok", "checked", "failures")} == synchronous
    assert any("stored file altered" in f["problem"] for f in job["failures"])


def test_verification_reports_progress_per_item_hashed(case, analyst):
    from evidence.services.verification import custody_verify

    calls = []
    report = custody_verify(
        incident=case,
        by=analyst,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert report.ok
    assert calls == [(1, 2), (2, 2)]


def test_a_verification_job_runs_once_however_often_it_is_sent(case, analyst, large):
    from evidence.services.custody_jobs import (
        custody_verification_request,
        custody_verification_run,
    )

    job = custody_verification_request(incident=case, by=analyst)
    done = custody_verification_run(job_id=job.pk)
    assert (done.status, done.progress, done.ok, done.checked) == ("done", 100, True, 2)
    assert done.stage == "Done" and done.attempts == 1
    # a message sent again (sweeper, redelivery) leaves the finished job alone
    assert custody_verification_run(job_id=job.pk) is None
    assert CustodyEvent.objects.filter(action="verified").count() == 2


def test_a_second_request_while_one_runs_joins_it(case, analyst, counsel, api, large):
    first = api(analyst).post(verify_url(case)).json()
    second = api(counsel).post(verify_url(case)).json()
    assert first["id"] == second["id"]
    assert CustodyVerification.objects.count() == 1


def test_a_large_bundle_is_a_job_whose_zip_verifies_and_is_recorded_once_built(
    case, analyst, api, large, tmp_path, django_capture_on_commit_callbacks
):
    client = api(analyst)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(bundle_url(case))
        assert response.status_code == 202
        queued = response.json()
        # then: nothing is recorded while the bundle is not built
        assert exported() == 0
    assert (queued["status"], queued["progress"]) == ("queued", 0)
    assert queued["url"].endswith(f"/api/v1/custody-bundles/{queued['id']}/")
    assert response["Location"] == queued["url"]
    assert queued["download_url"] is None and queued["exported"] == []
    job = client.get(queued["url"]).json()
    assert (job["status"], job["progress"]) == ("done", 100)
    assert job["download_url"].endswith(
        f"/api/v1/custody-bundles/{queued['id']}/download/"
    )
    # and: each item was recorded as exported once, as the job says
    events = CustodyEvent.objects.filter(action="exported").order_by("seq")
    assert [(e["exhibit"], e["seq"]) for e in job["exported"]] == [
        (e.evidence.exhibit, e.seq) for e in events
    ]
    assert len(events) == 2
    # and: the built zip is the one described, and verifies without the server
    download = client.get(job["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    data = b"".join(download.streaming_content)
    assert (hashlib.sha256(data).hexdigest(), len(data)) == (
        job["sha256"],
        job["size"],
    )
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    run = subprocess.run(
        [*plain_python(), str(VERIFY_PY), str(path)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "RESULT: OK" in run.stdout
    # and: downloading it again records nothing more
    client.get(job["download_url"])
    assert exported() == 2


def test_a_bundle_that_fails_while_building_records_nothing(
    case, analyst, api, settings
):
    # given: a stored file is gone
    item = Evidence.objects.select_related("blob").order_by("pk").last()
    (Path(settings.MEDIA_ROOT) / item.blob.storage_name).unlink()
    events = CustodyEvent.objects.count()
    # when: the synchronous bundle is asked for
    response = api(analyst).get(bundle_url(case))
    # then: a clear refusal, and no `exported` event for a zip never sent
    assert response.status_code == 409
    assert "EX-0002" in response.json()["detail"]
    assert CustodyEvent.objects.count() == events


def test_a_bundle_job_that_fails_records_nothing_and_keeps_no_file(
    case, analyst, api, large, settings, django_capture_on_commit_callbacks
):
    item = Evidence.objects.select_related("blob").order_by("pk").last()
    (Path(settings.MEDIA_ROOT) / item.blob.storage_name).unlink()
    events = CustodyEvent.objects.count()
    client = api(analyst)
    with django_capture_on_commit_callbacks(execute=True):
        queued = client.get(bundle_url(case)).json()
    job = client.get(queued["url"]).json()
    assert job["status"] == "failed"
    assert "EX-0002" in job["error"] and "missing" in job["error"]
    assert job["download_url"] is None and job["exported"] == []
    assert CustodyEvent.objects.count() == events
    assert not (Path(settings.MEDIA_ROOT) / "custody-bundles").exists() or not any(
        (Path(settings.MEDIA_ROOT) / "custody-bundles").rglob("*.zip")
    )
    assert client.get(f"{queued['url']}download/").status_code == 409


CALLERS = ["anonymous", "outsider", "service_user", "reviewer", "analyst"]


def caller(request, name, api, scope="write"):
    if name == "anonymous":
        return api()
    return api(request.getfixturevalue(name), scope)


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", 401),
        ("outsider", 404),
        ("service_user", 403),
        ("reviewer", 202),
        ("analyst", 202),
    ],
)
def test_who_may_start_a_verification_job(request, case, api, large, who, expected):
    events = CustodyEvent.objects.count()
    response = caller(request, who, api).post(verify_url(case))
    assert response.status_code == expected, response.content
    if expected != 202:
        assert not CustodyVerification.objects.exists()
        assert CustodyEvent.objects.count() == events


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", 401),
        ("outsider", 404),
        ("service_user", 403),
        ("reviewer", 202),
        ("analyst", 202),
    ],
)
def test_who_may_start_a_bundle_job(request, case, api, large, who, expected):
    events = CustodyEvent.objects.count()
    response = caller(request, who, api, "read").get(bundle_url(case))
    assert response.status_code == expected, response.content
    if expected != 202:
        assert not CustodyBundle.objects.exists()
        assert CustodyEvent.objects.count() == events


def test_a_read_token_cannot_start_a_verification(case, analyst, api, large):
    assert api(analyst, "read").post(verify_url(case)).status_code == 403
    assert not CustodyVerification.objects.exists()


@pytest.mark.parametrize(
    ("who", "verification", "bundle"),
    [
        ("anonymous", 401, 401),
        ("outsider", 404, 404),
        ("service_user", 403, 404),
        # a verification answers any member who may read contents; a bundle holds
        # what its requester may see, so it is theirs alone
        ("reviewer", 200, 404),
        ("analyst", 200, 200),
    ],
)
def test_who_may_read_a_job(
    request,
    case,
    analyst,
    api,
    large,
    who,
    verification,
    bundle,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        checked = api(analyst).post(verify_url(case)).json()
        built = api(analyst).get(bundle_url(case)).json()
    events = CustodyEvent.objects.count()
    client = caller(request, who, api, "read")
    assert client.get(checked["url"]).status_code == verification
    assert client.get(built["url"]).status_code == bundle
    assert client.get(f"{built['url']}download/").status_code == bundle
    assert CustodyEvent.objects.count() == events


def test_a_missing_job_is_not_found(analyst, api):
    client = api(analyst)
    assert client.get("/api/v1/custody-verifications/999999/").status_code == 404
    assert client.get("/api/v1/custody-bundles/999999/").status_code == 404
    assert client.get("/api/v1/custody-bundles/999999/download/").status_code == 404


def test_a_job_whose_requester_lost_the_right_fails_with_the_reason(
    case, analyst, api, large, django_capture_on_commit_callbacks
):
    client = api(analyst)
    with django_capture_on_commit_callbacks(execute=True):
        queued = client.get(bundle_url(case)).json()
        User.objects.filter(pk=analyst.pk).update(role=User.Role.SERVICE)
    job = CustodyBundle.objects.get(pk=queued["id"])
    assert job.status == "failed"
    assert "cannot read evidence contents" in job.error
    assert exported() == 0


def test_the_evidence_tab_shows_a_running_verification_and_bundle_with_progress(
    case, analyst, client, large
):
    # given: a large case whose jobs were requested from the page (not yet run)
    client.force_login(analyst)
    tab = f"/incidents/{case.reference}/evidence/"
    page = client.get(tab).content.decode()
    assert f'action="/incidents/{case.reference}/custody-bundle/"' in page
    response = client.post(f"/incidents/{case.reference}/verify/")
    assert response.status_code == 302
    response = client.post(f"/incidents/{case.reference}/custody-bundle/")
    assert response.status_code == 302
    verification = CustodyVerification.objects.get()
    bundle = CustodyBundle.objects.get()
    # when
    page = client.get(tab).content.decode()
    # then: progress bars the page's script polls
    assert page.count('<progress max="100" value="0" data-progress>') == 2
    assert f'data-poll-url="/api/v1/custody-verifications/{verification.pk}/"' in page
    assert f'data-poll-url="/api/v1/custody-bundles/{bundle.pk}/"' in page
    assert "<script>" not in page  # no inline script: CSP script-src 'self'
    assert exported() == 0


def test_the_evidence_tab_shows_a_finished_jobs_result_and_download_link(
    case, analyst, client, large, django_capture_on_commit_callbacks
):
    client.force_login(analyst)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/incidents/{case.reference}/verify/")
        client.post(f"/incidents/{case.reference}/custody-bundle/")
    bundle = CustodyBundle.objects.get()
    page = client.get(f"/incidents/{case.reference}/evidence/").content.decode()
    assert "All 2 items verified" in page
    assert f'href="/api/v1/custody-bundles/{bundle.pk}/download/"' in page
    assert "2 items recorded as exported" in page
    assert "<progress" not in page.split('id="items"')[0]


def test_a_small_case_page_keeps_the_direct_bundle_link(case, analyst, client):
    client.force_login(analyst)
    page = client.get(f"/incidents/{case.reference}/evidence/").content.decode()
    assert f'href="/api/v1/incidents/{case.reference}/custody-bundle/"' in page
    response = client.post(f"/incidents/{case.reference}/verify/", follow=True)
    assert "All 2 items verified" in response.content.decode()
    assert not CustodyVerification.objects.exists()


def test_a_stale_verification_job_is_queued_again_by_the_one_recovery_task(
    case, analyst, api, large, django_capture_on_commit_callbacks
):
    from config.celery import app

    # given: a worker took the job and died
    queued = api(analyst).post(verify_url(case)).json()
    old = timezone.now() - timedelta(seconds=3600)
    CustodyVerification.objects.filter(pk=queued["id"]).update(
        status="running", attempts=1, heartbeat_at=old, progress=40
    )
    # when: the beat's recovery task runs (and the eager task runs the job again)
    app.loader.import_default_modules()
    with django_capture_on_commit_callbacks(execute=True):
        swept = app.tasks["jobs.tasks.job_recover_stale_task"].apply().get()
    # then
    assert swept["custodyverification"] == [queued["id"]]
    job = CustodyVerification.objects.get(pk=queued["id"])
    assert (job.status, job.attempts, job.progress, job.ok) == ("done", 2, 100, True)


def test_a_bundle_job_that_keeps_dying_fails_and_records_nothing(
    case, analyst, api, large
):
    queued = api(analyst).get(bundle_url(case)).json()
    old = timezone.now() - timedelta(seconds=3600)
    CustodyBundle.objects.filter(pk=queued["id"]).update(
        status="running", attempts=CustodyBundle.max_attempts, heartbeat_at=old
    )
    assert job_recover_stale(model=CustodyBundle) == [queued["id"]]
    assert CustodyBundle.objects.get(pk=queued["id"]).status == "failed"
    assert exported() == 0


def test_the_schema_describes_both_answers_and_the_job_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    verify = paths["/api/v1/incidents/{reference}/verify/"]["post"]["responses"]
    assert {"200", "202"} <= set(verify)
    bundle = paths["/api/v1/incidents/{reference}/custody-bundle/"]["get"]["responses"]
    assert "application/zip" in bundle["200"]["content"]
    assert "application/json" in bundle["202"]["content"]
    for path in (
        "/api/v1/custody-verifications/{id}/",
        "/api/v1/custody-bundles/{id}/",
        "/api/v1/custody-bundles/{id}/download/",
    ):
        assert "get" in paths[path]
