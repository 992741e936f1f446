"""Bearer tokens in the API: who gets in, what each scope allows, CSRF for sessions."""

import hashlib
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from incidents.models import HistoryEntry, Incident, Note
from tests.factories import make_token

INCIDENTS = "/api/v1/incidents/"
NEW_INCIDENT = {
    "title": "Scripted capability probing",
    "kind": "capability_extraction",
    "severity": "medium",
}


def bearer_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def notes_url(incident: Incident) -> str:
    return f"{INCIDENTS}{incident.reference}/notes/"


def assert_contract_error(response, status: int) -> None:
    assert response.status_code == status
    body = response.json()
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body["errors"], list)


def assert_unauthorised(response) -> None:
    assert_contract_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


# -- who gets in ---------------------------------------------------------------


def test_valid_token_lists_the_owners_incidents(analyst, incident):
    client = bearer_client(make_token(analyst, "read"))

    response = client.get(INCIDENTS)

    assert response.status_code == 200
    assert [row["reference"] for row in response.json()["results"]] == [
        incident.reference
    ]


def test_missing_authorization_answers_401_with_challenge_and_contract_body(db):
    response = APIClient().get(INCIDENTS)

    assert_unauthorised(response)


def test_empty_bearer_token_answers_401(db):
    response = APIClient().get(INCIDENTS, HTTP_AUTHORIZATION="Bearer ")

    assert_unauthorised(response)


def test_unknown_token_answers_401(analyst):
    response = bearer_client("cb_not-a-token-anyone-was-given").get(INCIDENTS)

    assert_unauthorised(response)


def test_revoked_token_answers_401(analyst):
    # given
    secret = make_token(analyst, "read")
    ApiToken.objects.filter(user=analyst).update(revoked_at=timezone.now())

    # when
    response = bearer_client(secret).get(INCIDENTS)

    # then
    assert_unauthorised(response)


def test_expired_token_answers_401(analyst):
    # given a token made to live one day, whose day has passed
    secret = make_token(analyst, "read", days=1)
    ApiToken.objects.filter(user=analyst).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    # when
    response = bearer_client(secret).get(INCIDENTS)

    # then
    assert_unauthorised(response)


def test_token_still_works_before_it_expires(analyst):
    secret = make_token(analyst, "read", days=1)

    assert bearer_client(secret).get(INCIDENTS).status_code == 200


def test_token_of_a_deactivated_user_answers_401(analyst):
    # given
    secret = make_token(analyst, "read")
    analyst.is_active = False
    analyst.save(update_fields=["is_active"])

    # when
    response = bearer_client(secret).get(INCIDENTS)

    # then
    assert_unauthorised(response)


# -- how tokens are kept -------------------------------------------------------


def test_token_is_stored_only_as_its_sha256(analyst):
    secret = make_token(analyst, "write")

    token = ApiToken.objects.get(user=analyst)
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert all(secret not in str(value) for value in stored.values())


def test_using_a_token_records_when_it_was_last_used(analyst):
    # given
    secret = make_token(analyst, "read")
    assert ApiToken.objects.get(user=analyst).last_used_at is None
    before = timezone.now()

    # when
    bearer_client(secret).get(INCIDENTS)

    # then
    last_used_at = ApiToken.objects.get(user=analyst).last_used_at
    assert last_used_at is not None
    assert before <= last_used_at <= timezone.now()


# -- scopes --------------------------------------------------------------------


def test_read_token_can_list_incidents(analyst, incident):
    response = bearer_client(make_token(analyst, "read")).get(INCIDENTS)

    assert response.status_code == 200


def test_read_token_cannot_open_an_incident(analyst, incident):
    # given
    client = bearer_client(make_token(analyst, "read"))
    incidents_before = Incident.objects.count()

    # when
    response = client.post(INCIDENTS, NEW_INCIDENT, format="json")

    # then
    assert_contract_error(response, 403)
    assert Incident.objects.count() == incidents_before


def test_ingest_token_can_list_and_read_incidents(service_user, incident):
    client = bearer_client(make_token(service_user, "ingest"))

    listing = client.get(INCIDENTS)
    detail = client.get(f"{INCIDENTS}{incident.reference}/")

    assert listing.status_code == 200
    assert [row["reference"] for row in listing.json()["results"]] == [
        incident.reference
    ]
    assert detail.status_code == 200
    assert detail.json()["reference"] == incident.reference


def test_ingest_token_cannot_read_notes(analyst, incident):
    # An analyst may read notes, but not through an ingest token.
    client = bearer_client(make_token(analyst, "ingest"))

    response = client.get(notes_url(incident))

    assert_contract_error(response, 403)


@pytest.mark.parametrize("owner", ["analyst", "service_user"])
def test_ingest_token_cannot_open_incidents_or_add_notes(owner, request, incident):
    # given
    user = request.getfixturevalue(owner)
    client = bearer_client(make_token(user, "ingest"))
    incidents_before = Incident.objects.count()
    history_before = HistoryEntry.objects.count()

    # when
    opened = client.post(INCIDENTS, NEW_INCIDENT, format="json")
    noted = client.post(notes_url(incident), {"body": "Seen again."}, format="json")

    # then
    assert_contract_error(opened, 403)
    assert_contract_error(noted, 403)
    assert Incident.objects.count() == incidents_before
    assert not Note.objects.exists()
    assert HistoryEntry.objects.count() == history_before


def test_write_token_of_an_analyst_can_open_an_incident(analyst):
    client = bearer_client(make_token(analyst, "write"))

    response = client.post(INCIDENTS, NEW_INCIDENT, format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "open"
    assert Incident.objects.filter(reference=response.json()["reference"]).exists()


def test_write_token_of_an_analyst_can_add_a_note(analyst, incident):
    client = bearer_client(make_token(analyst, "write"))

    response = client.post(notes_url(incident), {"body": "Seen again."}, format="json")

    assert response.status_code == 201
    assert Note.objects.filter(incident=incident, body="Seen again.").exists()


def test_write_token_of_a_reviewer_is_still_limited_by_the_role(reviewer, incident):
    # given
    client = bearer_client(make_token(reviewer, "write"))
    incidents_before = Incident.objects.count()
    history_before = HistoryEntry.objects.count()

    # when
    opened = client.post(INCIDENTS, NEW_INCIDENT, format="json")
    noted = client.post(notes_url(incident), {"body": "Looks bad."}, format="json")

    # then
    assert_contract_error(opened, 403)
    assert_contract_error(noted, 403)
    assert Incident.objects.count() == incidents_before
    assert not Note.objects.exists()
    assert HistoryEntry.objects.count() == history_before


# -- browser sessions ----------------------------------------------------------


def test_session_post_without_csrf_token_answers_403_and_creates_nothing(analyst):
    # given
    client = Client(enforce_csrf_checks=True)
    client.force_login(analyst)

    # when
    response = client.post(INCIDENTS, NEW_INCIDENT, content_type="application/json")

    # then
    assert_contract_error(response, 403)
    assert not Incident.objects.exists()


def test_session_post_with_csrf_token_opens_an_incident(analyst):
    # given a browser holding a CSRF cookie and echoing it in the header
    client = Client(enforce_csrf_checks=True)
    client.force_login(analyst)
    csrf = "a" * 32
    client.cookies["csrftoken"] = csrf

    # when
    response = client.post(
        INCIDENTS,
        NEW_INCIDENT,
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )

    # then
    assert response.status_code == 201
    assert Incident.objects.count() == 1


def test_session_can_read_without_csrf_token(analyst, incident):
    client = Client(enforce_csrf_checks=True)
    client.force_login(analyst)

    response = client.get(INCIDENTS)

    assert response.status_code == 200
