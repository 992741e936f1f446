"""Signing in and out, sign-in throttling, and the append-only security record."""

import pytest
from django.db import DatabaseError, transaction
from django.test import Client
from django.urls import reverse

from accounts.models import SecurityEvent
from tests.factories import PASSWORD

LOGIN = reverse("accounts:login")
LOGOUT = reverse("accounts:logout")
Kind = SecurityEvent.Kind


def sign_in(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def kinds() -> list[str]:
    return list(SecurityEvent.objects.order_by("id").values_list("kind", flat=True))


def test_login_page_renders(db):
    response = Client().get(LOGIN)

    assert response.status_code == 200
    assert 'name="password"' in response.content.decode()


def test_correct_credentials_sign_in_and_are_recorded(analyst):
    # given
    client = Client()

    # when
    response = sign_in(client, analyst.username, PASSWORD)

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("incidents:list")
    assert client.get(reverse("accounts:profile")).status_code == 200
    event = SecurityEvent.objects.get()
    assert event.kind == Kind.SIGNED_IN
    assert event.actor == analyst
    assert event.username == analyst.username
    assert event.ip_address == "127.0.0.1"


def test_wrong_password_is_refused_and_recorded(analyst):
    # given
    client = Client()

    # when
    response = sign_in(client, analyst.username, "not-the-password")

    # then
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    event = SecurityEvent.objects.get()
    assert event.kind == Kind.SIGN_IN_FAILED
    assert event.actor is None
    assert event.username == analyst.username


def test_after_too_many_failures_even_the_right_password_is_refused(analyst, settings):
    # given
    settings.LOGIN_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        sign_in(client, analyst.username, "guess")

    # when
    response = sign_in(client, analyst.username, PASSWORD)

    # then
    assert response.status_code == 429
    assert response["Retry-After"]
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert kinds() == [Kind.SIGN_IN_FAILED] * 3 + [Kind.SIGN_IN_THROTTLED]
    throttled = SecurityEvent.objects.get(kind=Kind.SIGN_IN_THROTTLED)
    assert throttled.username == analyst.username


def test_throttling_ignores_the_case_of_the_username(analyst, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    client = Client()
    sign_in(client, analyst.username.upper(), "guess")
    sign_in(client, analyst.username, "guess")

    response = sign_in(client, analyst.username, PASSWORD)

    assert response.status_code == 429


def test_failures_below_the_limit_do_not_block_the_right_password(analyst, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(2):
        sign_in(client, analyst.username, "guess")

    response = sign_in(client, analyst.username, PASSWORD)

    assert response.status_code == 302
    assert kinds()[-1] == Kind.SIGNED_IN


def test_failures_for_one_username_do_not_block_another(analyst, counsel, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    client = Client()
    for _ in range(2):
        sign_in(client, analyst.username, "guess")

    response = sign_in(client, counsel.username, PASSWORD)

    assert response.status_code == 302


def test_sign_out_by_get_is_refused(analyst):
    client = Client()
    client.force_login(analyst)

    response = client.get(LOGOUT)

    assert response.status_code == 405
    assert client.get(reverse("accounts:profile")).status_code == 200
    assert not SecurityEvent.objects.exists()


def test_sign_out_ends_the_session_and_is_recorded(analyst):
    # given
    client = Client()
    client.force_login(analyst)

    # when
    response = client.post(LOGOUT)

    # then
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert client.get(reverse("accounts:profile")).status_code == 302
    event = SecurityEvent.objects.get()
    assert event.kind == Kind.SIGNED_OUT
    assert event.actor == analyst


def test_security_events_cannot_be_updated(analyst):
    # given
    sign_in(Client(), analyst.username, "guess")

    # when / then
    with pytest.raises(DatabaseError), transaction.atomic():
        SecurityEvent.objects.filter(username=analyst.username).update(username="x")
    assert SecurityEvent.objects.get().username == analyst.username


def test_security_events_cannot_be_deleted(analyst):
    # given
    sign_in(Client(), analyst.username, "guess")

    # when / then
    with pytest.raises(DatabaseError), transaction.atomic():
        SecurityEvent.objects.filter(username=analyst.username).delete()
    assert SecurityEvent.objects.count() == 1


def test_padding_or_widening_the_username_does_not_escape_throttling(analyst, settings):
    # " alice", "alice " and full-width "ａｌｉｃｅ" all sign in as alice, so
    # failures under those spellings count against alice too.
    settings.LOGIN_FAILURE_LIMIT = 3
    client = Client()
    for spelling in (f" {analyst.username}", f"{analyst.username} ", "ａｌｉｃｅ"):
        sign_in(client, spelling, "guess")

    response = sign_in(client, f"  {analyst.username}", PASSWORD)

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_many_failures_from_one_address_throttle_every_username(analyst, settings):
    # given failures spread over many usernames, each below the per-user limit
    settings.LOGIN_FAILURE_LIMIT = 2
    settings.LOGIN_FAILURE_ADDRESS_LIMIT = 8
    client = Client()
    for n in range(8):
        sign_in(client, f"guess{n}", "guess")

    # when
    response = sign_in(client, analyst.username, PASSWORD)

    # then
    assert response.status_code == 429
    assert kinds()[-1] == Kind.SIGN_IN_THROTTLED
