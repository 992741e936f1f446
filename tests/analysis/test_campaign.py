"""The campaign generator and `manage.py generate_campaign`."""

import gzip
import io
import json
from collections import defaultdict

import pytest
from django.core.management import CommandError, call_command

from analysis.campaign import Spec, population_generate
from evidence.models import QueryLogBatch
from evidence.querylog_parsing import LineError, parse_ndjson
from incidents.models import Incident

SMALL = Spec(benign=300, campaign_size=30, campaigns=2, seed=7)


def body(spec: Spec = SMALL) -> bytes:
    return b"".join(population_generate(spec).ndjson())


def records(spec: Spec = SMALL) -> list[dict]:
    return [json.loads(line) for line in body(spec).splitlines()]


def test_the_same_seed_gives_the_same_bytes_and_another_seed_others():
    assert body() == body()
    assert body() != body(Spec(benign=300, campaign_size=30, campaigns=2, seed=8))


def test_every_line_is_a_valid_contract_record_in_time_order():
    lines = list(parse_ndjson(io.BytesIO(body()), 4 * 1024 * 1024))
    assert not [line for line in lines if isinstance(line, LineError)]
    stamps = [r["timestamp"] for r in records()]
    assert stamps == sorted(stamps)


def test_the_ground_truth_lists_every_account_once():
    population = population_generate(SMALL)
    truth = population.truth()
    planted = [set(c["accounts"]) for c in truth["campaigns"]]
    assert len(truth["benign"]) == 300 and [len(p) for p in planted] == [30, 30]
    assert not planted[0] & planted[1] and not planted[0] & set(truth["benign"])
    seen = {r["account_id"] for r in records()}
    assert seen == set(truth["benign"]) | planted[0] | planted[1]
    assert truth["rows"] == len(records())


def test_campaign_accounts_share_much_but_not_everything():
    truth = population_generate(SMALL).truth()
    campaign = set(truth["campaigns"][0]["accounts"])
    proxies = set(truth["campaigns"][0]["proxies"])
    ips, agents, cards = defaultdict(set), defaultdict(set), defaultdict(set)
    for record in records():
        account = record["account_id"]
        if account in campaign:
            ips[account].add(record["ip"])
            agents[account].add(record["user_agent"])
            cards[account].add((record.get("extra") or {}).get("payment_fp"))
    behind_proxies = [a for a in campaign if ips[a] <= proxies]
    assert 0.6 * len(campaign) <= len(behind_proxies) < len(campaign)  # some go direct
    assert len({agent for a in campaign for agent in agents[a]}) >= 2
    assert {None} in cards.values() or len({fp for c in cards.values() for fp in c}) > 5


def test_campaign_requests_harvest_and_ordinary_ones_mostly_do_not():
    truth = population_generate(SMALL).truth()
    campaign = set(truth["campaigns"][0]["accounts"])
    mine = [r for r in records() if r["account_id"] in campaign]
    others = [r for r in records() if r["account_id"] in set(truth["benign"])]

    def share(rows, test):
        return sum(1 for r in rows if test(r["params"])) / len(rows)

    def zero(params):
        return params.get("temperature") == 0

    assert share(mine, zero) > 0.7 > 0.3 > share(others, zero)
    assert share(mine, lambda p: p.get("max_tokens") == 8192) > 0.6


def test_a_total_row_count_is_met_exactly_and_names_are_kept():
    spec = Spec(
        benign=300,
        campaign_size=30,
        total_rows=20_000,
        named_accounts=("acct_7f3a91c2",),
        named_payment_fp="pf_9c1e44b0d2",
    )
    population = population_generate(spec)
    assert population.rows == 20_000 == len(records(spec))
    truth = population.truth()
    assert truth["campaigns"][0]["accounts"][0] == "acct_7f3a91c2"
    assert truth["campaigns"][0]["payment_fps"][0] == "pf_9c1e44b0d2"


def test_the_command_writes_ndjson_and_the_ground_truth(tmp_path):
    out = tmp_path / "population.ndjson.gz"
    call_command(
        "generate_campaign",
        benign=50,
        campaign_size=10,
        seed=3,
        out=out,
        stdout=io.StringIO(),
    )
    lines = gzip.decompress(out.read_bytes()).splitlines()
    truth = json.loads((tmp_path / "population.ndjson.gz.truth.json").read_text())
    assert len(lines) == truth["rows"]
    assert len(truth["benign"]) == 50 and len(truth["campaigns"][0]["accounts"]) == 10


@pytest.mark.django_db
def test_the_command_ingests_into_an_incident_as_evidence(
    incident, analyst, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    output = io.StringIO()
    call_command(
        "generate_campaign",
        benign=40,
        campaign_size=8,
        incident=incident.reference,
        user=analyst.username,
        stdout=output,
        stderr=io.StringIO(),
    )
    truth = json.loads(output.getvalue())
    batch = QueryLogBatch.objects.get(incident=incident)
    assert truth["incident"] == incident.reference and truth["batch"] == batch.pk
    assert (
        batch.rows == truth["rows"]
        and batch.evidence.custody.filter(action="received").exists()
    )


@pytest.mark.django_db
def test_the_command_opens_an_incident_when_none_is_named(admin, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command(
        "generate_campaign",
        benign=20,
        campaign_size=5,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    opened = Incident.objects.get(title__startswith="Generated campaign")
    assert opened.query_log_batches.count() == 1


def test_the_command_refuses_a_bad_range():
    with pytest.raises(CommandError, match="range"):
        call_command("generate_campaign", rows_per_account="20-10", out="x")
