"""Inputs that once reached the database or the parser raw: each is a 400, never a 500."""

import pytest


@pytest.mark.parametrize(
    "path", ["/?q=a%00b", "/?owner=%00", "/incidents/a%00b/", "/alerts/?source=%00"]
)
def test_nul_in_urls_of_pages_is_a_400(path, client, analyst):
    client.force_login(analyst)
    assert client.get(path).status_code == 400


def test_nul_in_api_query_is_a_400_with_the_error_body(api, analyst):
    response = api(analyst).get("/api/v1/incidents/?q=a%00b")
    assert response.status_code == 400
    assert set(response.json()) == {"detail", "errors"}


def test_nul_in_a_sign_in_form_is_a_400(client, db):
    response = client.post(
        "/accounts/login/",
        "username=a%00b&password=x",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400


def test_nul_in_a_multipart_sign_in_is_a_failed_sign_in_not_a_500(client, db):
    response = client.post("/accounts/login/", {"username": "a\x00b", "password": "x"})
    assert response.status_code == 200
    assert (
        b"error" in response.content.lower() or b"correct" in response.content.lower()
    )


def test_deeply_nested_json_is_a_400(api, analyst):
    response = api(analyst).generic(
        "POST", "/api/v1/incidents/", "[" * 200_000, content_type="application/json"
    )
    assert response.status_code == 400
    assert "nested" in response.json()["detail"]
