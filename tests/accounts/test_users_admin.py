"""The administrators' users page: listing and creating users."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import SecurityEvent, User

USERS = reverse("accounts:users")
STRONG = "violet-Orbit-42-lantern"
NEW_USER = {
    "username": "dana",
    "full_name": "Dana Scully",
    "email": "dana@example.com",
    "role": "counsel",
    "password": STRONG,
}


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_admin_sees_the_users_page(admin, analyst):
    response = signed_in(admin).get(USERS)

    assert response.status_code == 200
    assert analyst.username in response.content.decode()


def test_admin_creates_a_user(admin):
    # when
    response = signed_in(admin).post(USERS, NEW_USER)

    # then
    assert response.status_code == 302
    assert response["Location"] == USERS
    user = User.objects.get(username="dana")
    assert user.role == User.Role.COUNSEL
    assert user.get_full_name() == "Dana Scully"
    assert user.check_password(STRONG)
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.USER_CREATED)
    assert event.actor == admin
    assert event.username == "dana"


def test_admin_creates_a_service_user_without_password(admin):
    signed_in(admin).post(
        USERS, NEW_USER | {"username": "scanner", "role": "service", "password": ""}
    )

    user = User.objects.get(username="scanner")
    assert user.role == User.Role.SERVICE
    assert not user.has_usable_password()


def test_duplicate_username_shows_an_error_and_changes_nothing(admin, analyst):
    response = signed_in(admin).post(USERS, NEW_USER | {"username": analyst.username})

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert User.objects.get(username=analyst.username).role == User.Role.ANALYST
    assert not SecurityEvent.objects.filter(
        kind=SecurityEvent.Kind.USER_CREATED
    ).exists()


def test_weak_password_shows_an_error_and_creates_nothing(admin):
    response = signed_in(admin).post(USERS, NEW_USER | {"password": "password"})

    assert response.status_code == 200
    assert not User.objects.filter(username="dana").exists()


@pytest.mark.parametrize("who", ["analyst", "counsel", "reviewer", "service_user"])
def test_non_admin_gets_404_and_creates_nothing(who, request):
    client = signed_in(request.getfixturevalue(who))

    listing = client.get(USERS)
    creating = client.post(USERS, NEW_USER | {"role": "admin"})

    assert listing.status_code == 404
    assert creating.status_code == 404
    assert not User.objects.filter(username="dana").exists()
    assert not SecurityEvent.objects.exists()


def test_anonymous_is_sent_to_sign_in(db):
    response = Client().post(USERS, NEW_USER)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert not User.objects.filter(username="dana").exists()


def test_invalid_username_shows_an_error_and_creates_nothing(admin):
    response = signed_in(admin).post(USERS, NEW_USER | {"username": "dana/scully"})

    assert response.status_code == 200
    assert not User.objects.filter(username="dana/scully").exists()
    assert not SecurityEvent.objects.exists()
