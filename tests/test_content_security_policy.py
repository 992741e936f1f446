"""Every response carries the Content-Security-Policy, and no page needs inline code."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import make_incident

TEMPLATES = Path(settings.BASE_DIR) / "templates"


def policy(response) -> dict[str, set[str]]:
    header = response["Content-Security-Policy"]
    return {
        name: set(values)
        for name, *values in (part.split() for part in header.split(";"))
    }


def assert_strict(response) -> None:
    directives = policy(response)
    assert directives["default-src"] == {"'self'"}
    assert directives["script-src"] == {"'self'"}
    assert directives["style-src"] == {"'self'"}
    assert directives["object-src"] == {"'none'"}
    assert directives["frame-ancestors"] == {"'none'"}


def test_a_page_carries_the_policy(analyst):
    client = Client()
    client.force_login(analyst)
    incident = make_incident(by=analyst)

    assert_strict(Client().get("/accounts/login/"))
    assert_strict(client.get(f"/incidents/{incident.reference}/"))
    assert_strict(client.get("/incidents/INC-1999-0001/"))  # the 404 page too


def test_an_api_response_carries_the_policy(analyst, api):
    make_incident(by=analyst)

    response = api(analyst, "read").get("/api/v1/incidents/")

    assert response.status_code == 200
    assert_strict(response)
    assert_strict(api().get("/api/v1/incidents/"))  # and a refusal
    assert_strict(Client().get("/api/schema/"))


def test_the_api_docs_allow_only_their_own_style_block(db):
    response = Client().get("/api/docs/")

    directives = policy(response)
    assert directives["script-src"] == {"'self'"}
    assert "'unsafe-inline'" not in directives["style-src"]
    assert any(value.startswith("'sha256-") for value in directives["style-src"])
    # its start-up script is a file of the same view, not inline
    assert "<script>" not in response.content.decode()
    script = Client().get("/api/docs/?script=")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()


BROWSER_TEMPLATES = sorted(
    path
    for path in TEMPLATES.rglob("*")
    if path.suffix in (".html", ".svg") and "pdf" not in path.parts
)


@pytest.mark.parametrize(
    "path", BROWSER_TEMPLATES, ids=lambda p: str(p.relative_to(TEMPLATES))
)
def test_no_page_template_has_inline_script_or_style(path):
    # Print templates (dossiers/pdf/) go to WeasyPrint, not to a browser.
    text = path.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline <script>"
    assert not re.search(r"\son[a-z]+\s*=", text), "inline event handler"
    assert "<style" not in text, "<style> block"
    assert not re.search(r"\sstyle\s*=", text), "style attribute"
    assert "javascript:" not in text.lower()
