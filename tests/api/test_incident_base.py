"""The incident in the URL is resolved in one place: every API view and page whose
URL holds an incident `reference` is built on `api.incidents.IncidentApi` or
`api.pages.incident_page`, so a new handler cannot skip the visibility check."""

import inspect

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from api.incidents import IncidentApi


def _routes(patterns=None, prefix="", inherited=False):
    """(route, callback, has_reference) for every URL the project serves."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        has_reference = inherited or "reference" in entry.pattern.regex.groupindex
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, route, has_reference)
        elif isinstance(entry, URLPattern):
            yield route, entry.callback, has_reference


def _is_incident_api(callback) -> bool:
    view_class = getattr(callback, "view_class", None)
    return isinstance(view_class, type) and issubclass(view_class, IncidentApi)


def _is_incident_page(callback) -> bool:
    return getattr(callback, "incident_page", False) is True


def test_every_url_with_an_incident_reference_goes_through_the_base():
    routes = [(r, cb) for r, cb, has_reference in _routes() if has_reference]
    bypassing = [
        route
        for route, callback in routes
        if not (_is_incident_api(callback) or _is_incident_page(callback))
    ]
    assert bypassing == []
    # Not vacuous: the API and the pages both have many such URLs.
    assert sum(_is_incident_api(cb) for _, cb in routes) >= 20
    assert sum(_is_incident_page(cb) for _, cb in routes) >= 20


def test_the_base_serves_only_urls_with_an_incident_reference():
    misplaced = [
        route
        for route, callback, has_reference in _routes()
        if not has_reference
        and (_is_incident_api(callback) or _is_incident_page(callback))
    ]
    assert misplaced == []


def test_every_incident_api_handler_receives_the_incident():
    views = {
        callback.view_class
        for _, callback, has_reference in _routes()
        if has_reference and _is_incident_api(callback)
    }
    for view in views:
        for method in view.http_method_names:
            handler = getattr(view, method, None)
            if handler is None or method == "options":
                continue
            parameters = list(inspect.signature(handler).parameters)
            assert parameters[:3] == ["self", "request", "incident"], (view, method)
            assert "reference" not in parameters, (view, method)
        for name in view.role_checks:
            assert callable(getattr(view, name, None)), (view, name)


@pytest.mark.parametrize("caller", ["outsider", "analyst"])
def test_a_method_no_handler_takes_answers_405_before_any_lookup(
    caller, incident, api, request
):
    # given a caller who may or may not see the incident
    client = api(request.getfixturevalue(caller))
    # when they use a method the view does not handle
    response = client.put(f"/api/v1/incidents/{incident.reference}/", {}, format="json")
    # then the answer is 405 either way: nothing is looked up for it
    assert response.status_code == 405


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/api/v1/incidents/{ref}/", 200),
        ("/api/v1/incidents/NOPE-0000/", 200),
    ],
)
def test_options_answers_as_any_api_view_does(url, status, incident, analyst, api):
    response = api(analyst).options(url.format(ref=incident.reference))
    assert response.status_code == status


def test_a_hidden_incident_page_answers_404_after_sign_in(incident, outsider, client):
    client.force_login(outsider)
    response = client.get(f"/incidents/{incident.reference}/query-logs/")
    assert response.status_code == 404


def test_an_anonymous_page_request_is_sent_to_sign_in_before_any_lookup(client):
    response = client.post("/incidents/NOPE-0000/verify/")
    assert response.status_code == 302
    assert "/accounts/" in response["Location"]


def test_a_form_target_refuses_get_with_405_after_sign_in(incident, analyst, client):
    client.force_login(analyst)
    response = client.get(f"/incidents/{incident.reference}/verify/")
    assert response.status_code == 405
