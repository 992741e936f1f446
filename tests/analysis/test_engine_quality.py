"""The quality bar of issue 6, on the generator's populations ingested through the
real ingestion service: the planted campaigns come out as clusters with precision and
recall of at least 0.95, and no ordinary account is in a cluster of 3 or more.

One generated population (5,000 ordinary accounts and two campaigns of 200 running
over the same days) serves the three cases: each posts the groups it needs, one batch
per group."""

import json

import pytest

from analysis.campaign import Spec, population_generate, population_ingest
from analysis.engine import analysis_parameters_clean, analysis_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def population(incident, service_user):
    """ingested(*groups) -> (truth, batch id per group); one batch per group."""
    generated = population_generate(Spec(benign=5000, campaign_size=200, campaigns=2))

    def ingested(*groups: str) -> tuple[dict, dict[str, int]]:
        batches = {
            group: population_ingest(
                generated, incident=incident, by=service_user, groups=[group]
            ).pk
            for group in groups
        }
        return generated.truth(), batches

    return ingested


def analyse(batch_ids: list[int]) -> dict:
    return analysis_run(batch_ids=batch_ids, parameters=analysis_parameters_clean(None))


def scores(cluster: list[str], planted: list[str]) -> tuple[float, float]:
    hit = len(set(cluster) & set(planted))
    return hit / len(cluster), hit / len(planted)


def ordinary_in_clusters(result: dict, truth: dict) -> list[str]:
    ordinary = set(truth["benign"])
    return sorted(a for c in result["clusters"] for a in c["accounts"] if a in ordinary)


def test_the_default_population_gives_the_planted_campaign_as_one_cluster(population):
    # given: 5,000 ordinary accounts and one planted campaign of 200
    truth, batches = population("benign", "campaign-1")
    # when
    result = analyse(list(batches.values()))
    # then
    assert result["population"]["accounts"] == 5200
    json.dumps(result, allow_nan=False)  # valid JSON: every number finite
    assert len(result["clusters"]) == 1
    precision, recall = scores(
        result["clusters"][0]["accounts"], truth["campaigns"][0]["accounts"]
    )
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
    assert ordinary_in_clusters(result, truth) == []


def test_ordinary_accounts_alone_form_no_cluster(population):
    truth, batches = population("benign")
    result = analyse(list(batches.values()))
    assert result["population"]["accounts"] == 5000
    assert result["clusters"] == []
    assert all(account["cluster"] is None for account in result["accounts"])


def test_two_interleaved_campaigns_come_out_as_two_clusters(population):
    truth, batches = population("benign", "campaign-1", "campaign-2")
    result = analyse(list(batches.values()))
    assert len(result["clusters"]) == 2
    for campaign in truth["campaigns"]:
        planted = campaign["accounts"]
        best = max(
            result["clusters"], key=lambda c: len(set(c["accounts"]) & set(planted))
        )
        precision, recall = scores(best["accounts"], planted)
        assert precision >= 0.95 and recall >= 0.95, (precision, recall)
    assert ordinary_in_clusters(result, truth) == []
