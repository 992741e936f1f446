"""The Clusters tab and the cluster page in the browser: who sees them, running an
analysis, the drawn graph, sorting the accounts, and adding a cluster as subjects."""

import re

import pytest
from django.test import Client
from django.utils.html import escape

from analysis.models import Analysis
from incidents.models import HistoryEntry, Subject
from tests.analysis.conftest import RING


def _browser(request, caller: str) -> Client:
    client = Client()
    if caller != "anonymous":
        client.force_login(request.getfixturevalue(caller))
    return client


def _tab(incident) -> str:
    return f"/incidents/{incident.reference}/clusters/"


def _ring(analysis: Analysis) -> dict:
    return next(c for c in analysis.result["clusters"] if RING[0] in c["accounts"])


def _cluster_url(analysis: Analysis, cluster_id: str) -> str:
    return f"{_tab(analysis.incident)}{analysis.pk}/{cluster_id}/"


@pytest.mark.parametrize(
    ("caller", "expected", "can_run"),
    [
        ("anonymous", 302, False),
        ("outsider", 404, False),
        ("service_user", 404, False),
        ("reviewer", 200, False),
        ("analyst", 200, True),
        ("counsel", 200, True),
        ("admin", 200, True),
    ],
)
def test_who_sees_the_clusters_tab(caller, expected, can_run, done, request):
    response = _browser(request, caller).get(_tab(done.incident))
    assert response.status_code == expected
    if expected == 200:
        html = response.content.decode()
        assert ("Run analysis" in html) is can_run
        assert 'aria-current="true">Clusters</a>' in html


@pytest.mark.parametrize(
    ("caller", "expected"),
    [("anonymous", 302), ("outsider", 404), ("service_user", 404), ("reviewer", 302)],
)
def test_who_may_not_run_an_analysis_changes_nothing(caller, expected, logged, request):
    history = HistoryEntry.objects.count()
    response = _browser(request, caller).post(_tab(logged))
    assert response.status_code == expected
    assert not Analysis.objects.exists()
    assert HistoryEntry.objects.count() == history


def test_an_analyst_runs_an_analysis_and_sees_the_cluster(
    logged, analyst, django_capture_on_commit_callbacks
):
    client = Client()
    client.force_login(analyst)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_tab(logged))
    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    assert "Analysis queued" in html
    analysis = Analysis.objects.get()
    assert analysis.status == "done"
    # the graph: one circle per drawn account, coloured by cluster, in an inline SVG
    assert '<svg class="linkage-graph"' in html
    ring = _ring(analysis)
    assert html.count('class="node"') == sum(
        len(c["accounts"]) for c in analysis.result["clusters"]
    )
    assert f'data-cluster="{ring["id"]}"' in html
    assert _cluster_url(analysis, ring["id"]) in html
    assert analysis.evidence.exhibit in html
    assert "<script" not in html.split("<main", 1)[1].split("</main>")[0]


def test_the_accounts_table_sorts_by_each_signal_on_the_server(done, reviewer):
    client = Client()
    client.force_login(reviewer)
    html = client.get(_tab(done.incident), {"sort": "account"}).content.decode()
    shown = re.findall(r'<td class="mono break">([^<]+)</td>', html)
    assert shown == sorted(a["account_id"] for a in done.result["accounts"])[:50]
    html = client.get(_tab(done.incident), {"sort": "-volume"}).content.decode()
    shown = re.findall(r'<td class="mono break">([^<]+)</td>', html)
    volumes = {a["account_id"]: a["volume"] for a in done.result["accounts"]}
    assert [volumes[a] for a in shown] == sorted(volumes.values(), reverse=True)[:50]
    for key in ("template_rate", "-gap_cv", "cluster", "nonsense"):
        assert client.get(_tab(done.incident), {"sort": key}).status_code == 200
    page_two = client.get(_tab(done.incident), {"sort": "account", "page": 2})
    assert "Page 2 of" in page_two.content.decode()


def test_an_empty_tab_explains_what_is_missing(incident, analyst):
    client = Client()
    client.force_login(analyst)
    html = client.get(_tab(incident)).content.decode()
    assert "No query logs yet" in html
    assert "No analysis yet" in html


def test_the_cluster_page_lists_members_reasons_and_signals(done, reviewer):
    client = Client()
    client.force_login(reviewer)
    ring = _ring(done)
    response = client.get(_cluster_url(done, ring["id"]))
    assert response.status_code == 200
    html = response.content.decode()
    for account in RING:
        assert account in html
    for reason in ring["reasons"]:
        assert escape(reason) in html
    assert "Add these" not in html  # reviewers read, they do not add


def test_unknown_clusters_and_analyses_are_not_found(done, logged, analyst):
    client = Client()
    client.force_login(analyst)
    unfinished = Analysis.objects.create(
        incident=logged, requested_by=analyst, code_version="x", parameters_sha256="0"
    )
    for url in (
        _cluster_url(done, "C999"),
        f"{_tab(done.incident)}999999/C1/",
        _cluster_url(unfinished, "C1"),
    ):
        assert client.get(url).status_code == 404, url


@pytest.mark.parametrize("wanted", ["²", "١", "-1", "1e3", "999999999999999999999"])
def test_an_odd_analysis_number_in_the_query_string_is_not_an_error(
    wanted, done, analyst
):
    client = Client()
    client.force_login(analyst)
    response = client.get(_tab(done.incident), {"analysis": wanted})
    assert response.status_code == 200
    assert ring_id(done) in response.content.decode()


def ring_id(analysis: Analysis) -> str:
    return _ring(analysis)["id"]


def test_one_click_adds_the_clusters_accounts_as_subjects(done, counsel):
    # given
    client = Client(enforce_csrf_checks=True)
    client.force_login(counsel)
    ring = _ring(done)
    page = client.get(_cluster_url(done, ring["id"])).content.decode()
    assert f"Add these {len(RING)} accounts as subjects" in page
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    # when
    response = client.post(
        _cluster_url(done, ring["id"]) + "subjects/",
        {"csrfmiddlewaretoken": token},
        follow=True,
    )
    # then
    html = response.content.decode()
    assert f"Added {len(RING)} accounts as subjects." in html
    assert f"All {len(RING)} are subjects" in html
    assert set(
        Subject.objects.filter(incident=done.incident).values_list("value", flat=True)
    ) == set(RING)
    assert HistoryEntry.objects.filter(action="analysis.subjects_added").count() == 1


def test_adding_subjects_without_csrf_is_refused(done, counsel):
    client = Client(enforce_csrf_checks=True)
    client.force_login(counsel)
    url = _cluster_url(done, _ring(done)["id"]) + "subjects/"
    assert client.post(url).status_code == 403
    assert not Subject.objects.exists()


@pytest.mark.parametrize(
    ("caller", "expected"),
    [("anonymous", 302), ("outsider", 404), ("service_user", 404), ("reviewer", 302)],
)
def test_who_may_not_add_subjects_changes_nothing(caller, expected, done, request):
    history = HistoryEntry.objects.count()
    url = _cluster_url(done, _ring(done)["id"]) + "subjects/"
    assert _browser(request, caller).post(url).status_code == expected
    assert not Subject.objects.exists()
    assert HistoryEntry.objects.count() == history


def test_the_page_cost_does_not_grow_with_accounts(
    done, analyst, django_assert_max_num_queries
):
    client = Client()
    client.force_login(analyst)
    with django_assert_max_num_queries(15):
        assert client.get(_tab(done.incident)).status_code == 200
