"""The published OpenAPI document describes the contract's paths, and the docs page
renders from local assets."""

import re

import pytest

CONTRACT = {
    ("post", "/api/v1/incidents/"),
    ("get", "/api/v1/incidents/"),
    ("get", "/api/v1/incidents/{reference}/"),
    ("patch", "/api/v1/incidents/{reference}/"),
    ("post", "/api/v1/incidents/{reference}/transition/"),
    ("get", "/api/v1/incidents/{reference}/subjects/"),
    ("post", "/api/v1/incidents/{reference}/subjects/"),
    ("get", "/api/v1/incidents/{reference}/timeline/"),
    ("post", "/api/v1/incidents/{reference}/timeline/"),
    ("get", "/api/v1/incidents/{reference}/notes/"),
    ("post", "/api/v1/incidents/{reference}/notes/"),
    ("get", "/api/v1/incidents/{reference}/members/"),
    ("post", "/api/v1/incidents/{reference}/members/"),
    ("delete", "/api/v1/incidents/{reference}/members/{username}/"),
    ("get", "/api/v1/incidents/{reference}/history/"),
    ("post", "/api/v1/incidents/{reference}/evidence/"),
    ("get", "/api/v1/incidents/{reference}/evidence/"),
    ("get", "/api/v1/evidence/{id}/"),
    ("get", "/api/v1/evidence/{id}/download/"),
    ("get", "/api/v1/evidence/{id}/custody/"),
    ("post", "/api/v1/evidence/{id}/custody/"),
    ("post", "/api/v1/incidents/{reference}/verify/"),
    ("post", "/api/v1/incidents/{reference}/legal-hold/"),
    ("get", "/api/v1/incidents/{reference}/custody-bundle/"),
    ("post", "/api/v1/incidents/{reference}/query-logs/"),
    ("get", "/api/v1/incidents/{reference}/query-logs/"),
    ("get", "/api/v1/incidents/{reference}/query-logs/stats/"),
    ("post", "/api/v1/alerts/"),
    ("get", "/api/v1/alerts/"),
    ("post", "/api/v1/incidents/{reference}/forensic-results/"),
    ("post", "/api/v1/incidents/{reference}/dossiers/"),
    ("get", "/api/v1/dossiers/{id}/"),
    ("get", "/api/v1/dossiers/{id}/pdf/"),
    ("post", "/api/v1/incidents/{reference}/analyses/"),
    ("get", "/api/v1/analyses/{id}/"),
}


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def test_schema_lists_every_contract_operation(schema):
    published = {
        (method, path)
        for path, operations in schema["paths"].items()
        for method in operations
    }
    assert published >= CONTRACT, sorted(CONTRACT - published)


def test_schema_declares_bearer_auth(schema):
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_docs_page_uses_only_local_assets(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert not re.search(r"(src|href)=\"https?://", html)
