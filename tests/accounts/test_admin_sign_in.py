"""The Django admin's login goes through the same throttled, logged sign-in."""

from django.test import Client

from accounts.models import SecurityEvent
from tests.factories import PASSWORD

ADMIN_LOGIN = "/django-admin/login/"
Kind = SecurityEvent.Kind


def admin_sign_in(client: Client, username: str, password: str):
    return client.post(
        f"{ADMIN_LOGIN}?next=/django-admin/",
        {"username": username, "password": password, "next": "/django-admin/"},
    )


def test_wrong_passwords_on_the_admin_login_are_logged_and_throttled(admin):
    # given
    client = Client()

    # when
    statuses = [
        admin_sign_in(client, admin.username, f"guess-{n}").status_code
        for n in range(25)
    ]

    # then each checked password is a logged failure, and the rest are refused
    assert statuses == [200] * 5 + [429] * 20
    events = list(SecurityEvent.objects.order_by("id"))
    assert [e.kind for e in events] == [Kind.SIGN_IN_FAILED] * 5 + [
        Kind.SIGN_IN_THROTTLED
    ] * 20
    assert {(e.username, e.ip_address) for e in events} == {
        (admin.username, "127.0.0.1")
    }
    # even the right password now waits, on the admin login and the app's
    assert admin_sign_in(client, admin.username, PASSWORD).status_code == 429
    response = client.post(
        "/accounts/login/", {"username": admin.username, "password": PASSWORD}
    )
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_failures_on_the_app_login_count_on_the_admin_login(admin, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        client.post("/accounts/login/", {"username": admin.username, "password": "x"})

    response = admin_sign_in(client, admin.username, PASSWORD)

    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()


def test_an_administrator_signs_in_to_the_admin_and_it_is_logged(admin):
    # given an administrator as user_create makes one (staff, superuser)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client = Client()

    # when
    response = admin_sign_in(client, admin.username, PASSWORD)

    # then
    assert response.status_code == 302
    assert response["Location"] == "/django-admin/"
    assert client.get("/django-admin/").status_code == 200
    event = SecurityEvent.objects.get()
    assert (event.kind, event.actor) == (Kind.SIGNED_IN, admin)


def test_the_admin_login_refuses_a_non_staff_user_and_logs_the_failure(analyst):
    client = Client()

    response = admin_sign_in(client, analyst.username, PASSWORD)

    assert response.status_code == 200
    assert "staff account" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert SecurityEvent.objects.get().kind == Kind.SIGN_IN_FAILED


def test_the_admin_login_page_still_renders(db):
    response = Client().get(f"{ADMIN_LOGIN}?next=/django-admin/")

    assert response.status_code == 200
    assert 'name="password"' in response.content.decode()
    assert "Django administration" in response.content.decode()


def test_the_admin_sends_a_signed_out_visitor_to_its_login(db):
    response = Client().get("/django-admin/")

    assert response.status_code == 302
    assert response["Location"].startswith(ADMIN_LOGIN)
