"""API tokens made and revoked from the browser's profile page."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken, SecurityEvent
from accounts.services import api_token_create, hash_token

SECRET = re.compile(r"cb_[A-Za-z0-9_-]{40,}")


@pytest.fixture
def browser(analyst) -> Client:
    client = Client()
    client.force_login(analyst)
    return client


def create_token(client: Client, **fields):
    data = {"name": "laptop", "scope": "read", "days": ""} | fields
    return client.post(reverse("accounts:token-create"), data)


def test_profile_page_lists_the_users_tokens(browser, analyst):
    api_token_create(user=analyst, name="nightly export", scope="read")

    response = browser.get(reverse("accounts:profile"))

    assert response.status_code == 200
    assert "nightly export" in response.content.decode()


def test_profile_page_requires_sign_in(db):
    response = Client().get(reverse("accounts:profile"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_created_token_secret_is_shown_exactly_once(browser, analyst):
    # when
    created = create_token(browser, scope="ingest", days="30")
    first = browser.get(reverse("accounts:profile")).content.decode()
    second = browser.get(reverse("accounts:profile")).content.decode()

    # then the secret shown is the token's, and it is not shown again
    assert created.status_code == 302
    assert created["Location"] == reverse("accounts:profile")
    token = ApiToken.objects.get(user=analyst)
    assert token.scope == ApiToken.Scope.INGEST
    assert token.name == "laptop"
    assert token.expires_at is not None
    shown = SECRET.findall(first)
    assert len(shown) == 1
    assert hash_token(shown[0]) == token.token_hash
    assert shown[0] not in second
    assert not SECRET.search(second)


def test_creating_a_token_records_a_security_event(browser, analyst):
    create_token(browser)

    token = ApiToken.objects.get(user=analyst)
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.TOKEN_CREATED)
    assert event.actor == analyst
    assert event.username == analyst.username
    assert event.detail["token"] == token.pk
    assert event.detail["scope"] == "read"


def test_invalid_token_form_creates_nothing(browser, analyst):
    response = create_token(browser, scope="root", days="0")

    assert response.status_code == 302
    assert not ApiToken.objects.exists()
    assert not SecurityEvent.objects.filter(
        kind=SecurityEvent.Kind.TOKEN_CREATED
    ).exists()


def test_token_creation_is_post_only(browser):
    response = browser.get(reverse("accounts:token-create"))

    assert response.status_code == 405
    assert not ApiToken.objects.exists()


def test_owner_can_revoke_a_token(browser, analyst):
    # given
    token, _ = api_token_create(user=analyst, name="laptop", scope="read")

    # when
    response = browser.post(reverse("accounts:token-revoke", args=[token.pk]))

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:profile")
    token.refresh_from_db()
    assert token.is_revoked
    assert token.revoked_by == analyst
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.TOKEN_REVOKED)
    assert event.actor == analyst
    assert event.detail["token"] == token.pk


def test_revoking_twice_records_one_event(browser, analyst):
    token, _ = api_token_create(user=analyst, name="laptop", scope="read")

    browser.post(reverse("accounts:token-revoke", args=[token.pk]))
    browser.post(reverse("accounts:token-revoke", args=[token.pk]))

    assert (
        SecurityEvent.objects.filter(kind=SecurityEvent.Kind.TOKEN_REVOKED).count() == 1
    )


def test_revoking_another_users_token_answers_404_and_keeps_it_active(
    browser, outsider
):
    # given
    token, _ = api_token_create(user=outsider, name="theirs", scope="write")

    # when
    response = browser.post(reverse("accounts:token-revoke", args=[token.pk]))

    # then
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.is_usable
    assert not SecurityEvent.objects.filter(
        kind=SecurityEvent.Kind.TOKEN_REVOKED
    ).exists()


def test_revocation_is_post_only(browser, analyst):
    token, _ = api_token_create(user=analyst, name="laptop", scope="read")

    response = browser.get(reverse("accounts:token-revoke", args=[token.pk]))

    assert response.status_code == 405
    token.refresh_from_db()
    assert token.is_usable
