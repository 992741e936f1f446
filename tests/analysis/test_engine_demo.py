"""The demo case (`manage.py seed_demo`): its query logs come from the campaign
generator, and the analysis finds the planted campaign among them."""

import pytest
from django.core.management import call_command

from analysis.campaign import population_generate
from analysis.engine import analysis_parameters_clean, analysis_run
from incidents.management.commands.seed_demo import DEMO_POPULATION
from incidents.models import Incident


@pytest.mark.django_db
def test_the_demo_case_shows_its_planted_campaign_as_one_cluster(settings, tmp_path):
    # given
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("seed_demo")
    incident = Incident.objects.get(title__startswith="Hydra")
    batch = incident.query_log_batches.get()
    planted = set(
        population_generate(DEMO_POPULATION).truth()["campaigns"][0]["accounts"]
    )
    # when
    result = analysis_run(
        batch_ids=[batch.pk], parameters=analysis_parameters_clean(None)
    )
    # then
    assert result["population"]["rows"] == 20_000
    (cluster,) = result["clusters"]
    assert set(cluster["accounts"]) == planted
    assert {"acct_7f3a91c2", "acct_7f3a91d8"} <= planted
    shared = {(a["kind"], a["value"]) for a in cluster["shared_attributes"]}
    assert ("payment_fp", "pf_9c1e44b0d2") in shared
    assert ("ip_prefix", "203.0.113.0/24") in shared
    assert any("prompt templates" in e["summary"] for e in result["edges"])
