"""The `create_user` and `create_api_token` management commands."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, SecurityEvent, User

STRONG = "violet-Orbit-42-lantern"


def run(*args, **options) -> str:
    out = StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


# -- create_user ---------------------------------------------------------------


def test_create_user_makes_a_user_who_can_sign_in(db):
    # when
    output = run("create_user", "dana", "--role", "counsel", "--password", STRONG)

    # then
    assert "dana" in output
    user = User.objects.get(username="dana")
    assert user.role == User.Role.COUNSEL
    assert not user.is_staff
    response = Client().post(
        reverse("accounts:login"), {"username": "dana", "password": STRONG}
    )
    assert response.status_code == 302
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.USER_CREATED)
    assert event.username == "dana"
    assert event.detail == {"role": "counsel"}


def test_create_user_as_admin_grants_django_admin(db):
    run("create_user", "boss", "--role", "admin", "--password", STRONG)

    user = User.objects.get(username="boss")
    assert user.is_admin
    assert user.is_staff
    assert user.is_superuser


def test_service_user_without_password_gets_an_unusable_one(db):
    run("create_user", "scanner", "--role", "service")

    user = User.objects.get(username="scanner")
    assert user.role == User.Role.SERVICE
    assert not user.has_usable_password()


def test_create_user_refuses_a_taken_username(analyst):
    with pytest.raises(CommandError, match="already exists"):
        run("create_user", analyst.username, "--role", "counsel", "--password", STRONG)

    assert User.objects.get(username=analyst.username).role == User.Role.ANALYST
    assert not SecurityEvent.objects.exists()


def test_create_user_refuses_an_unknown_role(db):
    with pytest.raises(CommandError):
        run("create_user", "eve", "--role", "superuser", "--password", STRONG)

    assert not User.objects.filter(username="eve").exists()


def test_create_user_refuses_a_weak_password(db):
    with pytest.raises(CommandError):
        run("create_user", "eve", "--role", "analyst", "--password", "password")

    assert not User.objects.filter(username="eve").exists()
    assert not SecurityEvent.objects.exists()


# -- create_api_token ----------------------------------------------------------


def test_create_api_token_prints_a_token_that_authenticates(service_user, incident):
    # when
    output = run(
        "create_api_token", service_user.username, "--scope", "ingest", "--days", "30"
    )

    # then
    secret = output.strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = client.get("/api/v1/incidents/")
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_create_api_token_sets_scope_and_expiry(service_user):
    before = timezone.now()

    run("create_api_token", service_user.username, "--scope", "ingest", "--days", "30")

    token = ApiToken.objects.get(user=service_user)
    assert token.scope == ApiToken.Scope.INGEST
    expected = before + timedelta(days=30)
    assert expected <= token.expires_at <= expected + timedelta(minutes=1)
    assert SecurityEvent.objects.filter(
        kind=SecurityEvent.Kind.TOKEN_CREATED, username=service_user.username
    ).exists()


def test_create_api_token_without_days_never_expires(service_user):
    run("create_api_token", service_user.username, "--scope", "read")

    assert ApiToken.objects.get(user=service_user).expires_at is None


def test_create_api_token_for_an_unknown_user_fails(db):
    with pytest.raises(CommandError, match="nobody"):
        run("create_api_token", "nobody", "--scope", "read")

    assert not ApiToken.objects.exists()


def test_create_api_token_for_a_deactivated_user_fails(service_user):
    service_user.is_active = False
    service_user.save(update_fields=["is_active"])

    with pytest.raises(CommandError):
        run("create_api_token", service_user.username, "--scope", "read")

    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("days", ["0", "-5", "5000"])
def test_create_api_token_refuses_an_impossible_lifetime(service_user, days):
    with pytest.raises(CommandError):
        run(
            "create_api_token", service_user.username, "--scope", "read", "--days", days
        )

    assert not ApiToken.objects.exists()


def test_create_api_token_refuses_an_unknown_scope(service_user):
    with pytest.raises(CommandError):
        run("create_api_token", service_user.username, "--scope", "admin")

    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("username", ["a/b", "bob smith", "x" * 151])
def test_create_user_refuses_an_invalid_username(db, username):
    with pytest.raises(CommandError):
        run("create_user", username, "--role", "analyst", "--password", STRONG)

    assert not User.objects.exists()


def test_create_user_refuses_an_invalid_email(db):
    with pytest.raises(CommandError):
        run("create_user", "dana", "--role", "analyst", "--email", "not-an-address")

    assert not User.objects.exists()
