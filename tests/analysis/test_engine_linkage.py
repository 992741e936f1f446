"""Linkage: rarity weights, the cap on common values, reasons, clusters, parameters;
tiny populations posted through the real ingestion service."""

import math
from datetime import timedelta

import pytest
from django.db import transaction

from analysis.engine import DEFAULT_PARAMETERS, analysis_parameters_clean
from analysis.engine.edges import summary
from analysis.engine.linkage import network_prefix, threshold_for
from config.errors import InvalidInput
from tests.analysis.engine_helpers import START, TEMPLATE, analyse, ingest, row

pytestmark = pytest.mark.django_db


def population(n: int, shared: dict[str, dict]) -> list[dict]:
    """n accounts with two requests each and nothing in common, except the fields
    `shared` gives some of them: {account: {field: value}}."""
    return [
        row(
            f"acct-{a:02d}",
            START + timedelta(hours=a, minutes=17 * i),
            **{
                "ip": f"10.{a}.{i}.1",
                "user_agent": f"client-{a}",
                **shared.get(f"acct-{a:02d}", {}),
            },
        )
        for a in range(n)
        for i in range(2)
    ]


def edge(result: dict, a: str, b: str) -> dict:
    return next(e for e in result["edges"] if {e["a"], e["b"]} == {a, b})


def test_a_shared_value_weighs_ln_of_the_population_over_its_sharers(
    incident, service_user
):
    # given: 20 accounts, three of which share one address
    shared = {f"acct-0{a}": {"ip": "203.0.113.7"} for a in range(3)}
    batch = ingest(incident, service_user, population(20, shared))
    # when
    result = analyse([batch], edge_threshold=1.0)
    # then
    found = edge(result, "acct-00", "acct-01")
    assert found["weight"] == pytest.approx(math.log(20 / 3), abs=1e-4)
    assert found["reasons"] == ["share IP 203.0.113.7"]
    (cluster,) = result["clusters"]
    assert sorted(cluster["accounts"]) == ["acct-00", "acct-01", "acct-02"]
    attribute = next(a for a in cluster["shared_attributes"] if a["kind"] == "ip")
    assert attribute == {
        "kind": "ip",
        "value": "203.0.113.7",
        "accounts": 3,
        "accounts_total": 3,
        "weight": pytest.approx(math.log(20 / 3), abs=1e-4),
    }
    assert "3 of 3 accounts connect from a shared IP address" in cluster["reasons"][0]


def test_an_ip_and_its_network_count_once(incident, service_user):
    shared = {f"acct-0{a}": {"ip": "203.0.113.7"} for a in range(3)}
    result = analyse(
        [ingest(incident, service_user, population(20, shared))], edge_threshold=1.0
    )
    # the /24 is shared by the same three: ln(20/3), not twice that
    assert edge(result, "acct-00", "acct-02")["weight"] == pytest.approx(
        math.log(20 / 3), abs=1e-4
    )
    assert edge(result, "acct-00", "acct-02")["weights"] == {
        "network": pytest.approx(math.log(20 / 3), abs=1e-4)
    }


def test_weights_of_different_values_add_up_and_the_reasons_say_which(
    incident, service_user
):
    shared = {
        f"acct-0{a}": {
            "ip": "203.0.113.7",
            "extra": {"payment_fp": "pf_9c1e44b0d2"},
            "prompt": TEMPLATE.format(fill=f"topic {a}"),
        }
        for a in range(3)
    }
    result = analyse(
        [ingest(incident, service_user, population(20, shared))], edge_threshold=1.0
    )
    found = edge(result, "acct-00", "acct-01")
    assert found["weight"] == pytest.approx(3 * math.log(20 / 3), abs=1e-3)
    assert set(found["reasons"]) == {
        "share IP 203.0.113.7",
        "pay with card fingerprint pf_9c1e44b0d2",
        "share 1 prompt template",
    }
    assert found["summary"].count(" and ") == 1


def test_a_value_shared_by_too_many_accounts_makes_no_edge(incident, service_user):
    # given: 6 of 20 accounts use one client, more than max_share = 0.25 allows (5)
    shared = {f"acct-0{a}": {"user_agent": "popular-sdk/1.0"} for a in range(6)}
    batch = ingest(incident, service_user, population(20, shared))
    # when
    result = analyse([batch], edge_threshold=0.01)
    # then
    assert result["edges"] == [] and result["clusters"] == []
    assert result["population"]["shared_value_cap"] == 5
    assert {"kind": "user_agent", "value": "popular-sdk/1.0", "accounts": 6} in result[
        "population"
    ]["ignored_common_values"]


def test_pairs_below_the_threshold_or_below_the_cluster_size_make_no_cluster(
    incident, service_user
):
    shared = {"acct-00": {"ip": "203.0.113.7"}, "acct-01": {"ip": "203.0.113.7"}}
    batch = ingest(incident, service_user, population(20, shared))
    weight = math.log(20 / 2)
    assert (
        analyse([batch], edge_threshold=weight + 0.01)["population"]["edges_total"] == 0
    )
    linked = analyse([batch], edge_threshold=weight - 0.01)
    assert linked["population"]["edges_total"] == 1
    assert linked["clusters"] == []  # a pair: min_cluster_size is 3
    (pair,) = analyse([batch], edge_threshold=1.0, min_cluster_size=2)["clusters"]
    assert sorted(pair["accounts"]) == ["acct-00", "acct-01"]


def test_the_default_threshold_is_ln_n_plus_ln_of_one_over_chance_partners():
    assert threshold_for(5200, analysis_parameters_clean(None)) == pytest.approx(
        math.log(5200) + math.log(10)
    )
    assert threshold_for(100, analysis_parameters_clean({"edge_threshold": 7})) == 7


def test_only_the_given_batches_are_read(incident, service_user):
    first = ingest(incident, service_user, population(4, {}))
    ingest(incident, service_user, [row("someone-else", START)])
    result = analyse([first])
    assert result["population"]["accounts"] == 4
    assert "someone-else" not in {a["account_id"] for a in result["accounts"]}


def test_no_rows_give_an_empty_result():
    result = analyse([])
    assert result["population"]["accounts"] == 0
    assert result["clusters"] == result["accounts"] == result["edges"] == []


def test_network_prefixes_follow_the_parameters():
    assert network_prefix("203.0.113.7", 24, 48) == "203.0.113.0/24"
    assert network_prefix("2001:db8:a1:9::14", 24, 48) == "2001:db8:a1::/48"
    assert network_prefix("198.51.100.23", 16, 48) == "198.51.0.0/16"


def test_a_summary_joins_reasons_into_one_sentence():
    assert summary(["share IP 203.0.113.7", "share 41 prompt templates"]) == (
        "share IP 203.0.113.7 and 41 prompt templates"
    )
    assert summary(
        [
            "share 2 IPs, e.g. 1.2.3.4",
            "use the same client 'x'",
            "share 1 prompt template",
        ]
    ) == (
        "share 2 IPs, e.g. 1.2.3.4, use the same client 'x' and share 1 prompt template"
    )


# --- parameters ------------------------------------------------------------------------


def test_parameters_default_to_the_documented_values():
    assert analysis_parameters_clean(None) == DEFAULT_PARAMETERS
    assert analysis_parameters_clean({"min_cluster_size": 5})["min_cluster_size"] == 5


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"surprise": 1}, "surprise"),
        ({"min_cluster_size": "3"}, "min_cluster_size"),
        ({"min_cluster_size": True}, "min_cluster_size"),
        ({"max_share": 2.0}, "max_share"),
        ({"template_jaccard": float("nan")}, "template_jaccard"),
        ({"link_kinds": ["ip", "asn"]}, "link_kinds"),
        ({"payment_key": "a b"}, "payment_key"),
        ({"lsh_bands": 5}, "lsh_bands"),
        # bounded so that no request can exhaust a worker's memory
        ({"max_group": 100_000}, "max_group"),
        ({"max_share": 1.0}, "max_share"),
        ({"prompt_sample": 10_000}, "prompt_sample"),
        ({"prompt_chars": 100_000}, "prompt_chars"),
        ({"minhash_permutations": 512}, "minhash_permutations"),
    ],
)
def test_a_bad_parameter_is_refused_by_name(raw, named):
    with pytest.raises(InvalidInput) as refused:
        analysis_parameters_clean(raw)
    assert named in refused.value.detail
    assert refused.value.errors[0]["field"] == f"parameters.{named}"


@pytest.mark.django_db(transaction=True)
def test_reading_beside_or_inside_a_transaction_gives_the_same_result(
    incident, service_user
):
    # given: committed rows (on PostgreSQL, outside a transaction the attribute scan
    # runs on a second connection in a thread; inside one, everything runs in turn)
    shared = {
        f"acct-0{a}": {"ip": "203.0.113.7", "extra": {"payment_fp": "pf_1"}}
        for a in range(4)
    }
    batch = ingest(incident, service_user, population(30, shared))
    # when
    beside = analyse([batch], edge_threshold=2.0)
    with transaction.atomic():
        inside = analyse([batch], edge_threshold=2.0)
    # then
    assert beside == inside
    assert len(beside["clusters"]) == 1


def test_an_ipv4_mapped_address_falls_into_its_ipv4_network():
    assert network_prefix("::ffff:203.0.113.7", 24, 48) == "203.0.113.0/24"
    assert network_prefix("203.0.113.7", 24, 48) == "203.0.113.0/24"
    assert network_prefix("2001:db8:a1:9::b", 24, 48) == "2001:db8:a1::/48"
