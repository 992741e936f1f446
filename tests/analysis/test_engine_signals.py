"""Signal formulas on hand-made numbers and tiny populations posted through the real
ingestion service."""

import json
import math
from datetime import timedelta

import numpy as np
import pytest
from scipy import stats

from analysis.engine.signals import two_proportion_p
from analysis.engine.timing import (
    MAD_SCALE,
    MEAN_AD_SCALE,
    burst_scores,
    gap_variation,
    hour_of_day_entropy,
)
from tests.analysis.engine_helpers import (
    START,
    TEMPLATE,
    analyse,
    ingest,
    row,
    signals_of,
)

# --- formulas on known numbers -------------------------------------------------------


def test_perfectly_regular_gaps_have_a_coefficient_of_variation_of_zero():
    times = np.arange(10, dtype=np.int64) * 600_000_000  # every 10 minutes
    gaps, cv = gap_variation(times, np.zeros(10, np.int64), np.array([10]), 3)
    assert gaps.tolist() == [9]
    assert cv[0] == 0.0


def test_gap_variation_is_the_standard_deviation_over_the_mean():
    seconds = np.array([0, 10, 30, 60])  # gaps 10, 20, 30
    cv = gap_variation(seconds * 1_000_000, np.zeros(4, np.int64), np.array([4]), 3)[1]
    assert cv[0] == pytest.approx(np.std([10, 20, 30]) / 20)


def test_too_few_gaps_leave_the_variation_undefined():
    times = np.array([0, 60_000_000], dtype=np.int64)
    assert math.isnan(
        gap_variation(times, np.zeros(2, np.int64), np.array([2]), 3)[1][0]
    )


def test_requests_in_every_hour_of_the_day_give_log2_24_bits():
    hours = np.arange(48, dtype=np.int64)  # two days, every hour once
    entropy, active = hour_of_day_entropy(hours, np.zeros(48, np.int64), 1)
    assert entropy[0] == pytest.approx(math.log2(24))
    assert active[0] == 24


def test_requests_in_one_hour_of_the_day_give_zero_bits():
    hours = np.array([9, 33, 57], dtype=np.int64)  # 09:00 on three days
    assert hour_of_day_entropy(hours, np.zeros(3, np.int64), 1)[0][0] == 0.0


def test_burst_is_count_minus_median_over_1_4826_mad():
    cells = np.array([1, 1, 2, 2, 3, 10])  # median 2, MAD 1
    burst, median, scale = burst_scores(cells, np.array([10, 2]))
    assert (median, scale) == (2.0, pytest.approx(MAD_SCALE))
    assert burst.tolist() == pytest.approx([8 / MAD_SCALE, 0.0])


def test_burst_falls_back_to_the_mean_absolute_deviation_when_mad_is_zero():
    cells = np.array([1, 1, 1, 1, 5])  # MAD 0; mean absolute deviation 0.8
    burst, _, scale = burst_scores(cells, np.array([5]))
    assert scale == pytest.approx(MEAN_AD_SCALE * 0.8)
    assert burst[0] == pytest.approx(4 / (MEAN_AD_SCALE * 0.8))


def test_the_two_proportion_test_matches_the_textbook_formula():
    # 30 of 50 against 20 of the other 200
    p = two_proportion_p(np.array([30]), np.array([50]), 50.0, 250.0)[0]
    pooled = 50 / 250
    z = (30 / 50 - 20 / 200) / math.sqrt(pooled * (1 - pooled) * (1 / 50 + 1 / 200))
    assert p == pytest.approx(stats.norm.sf(z))


def test_the_two_proportion_test_says_nothing_when_everyone_is_alike():
    p = two_proportion_p(np.array([5, 0]), np.array([5, 5]), 5.0, 10.0)
    assert p[1] == pytest.approx(1.0, abs=1e-3) and p[0] < 0.01
    assert two_proportion_p(np.array([0]), np.array([5]), 0.0, 10.0)[0] == 1.0


# --- through ingestion and analysis_run ------------------------------------------------


@pytest.mark.django_db
def test_a_scripted_account_shows_regular_round_the_clock_harvesting(
    incident, service_user
):
    # given: a script every hour for two days, asking for temperature 0, the largest
    # max_tokens, logprobs and 4 samples; and people with ordinary habits
    script = [
        row(
            "bot",
            START + timedelta(hours=h),
            params={"temperature": 0, "max_tokens": 8192, "logprobs": 5, "n": 4},
        )
        for h in range(48)
    ]
    people = [
        row(
            f"person-{p}",
            START + timedelta(days=d, hours=9 + p % 8, minutes=7 * d * (p + 1) % 50),
            params={"temperature": 0.7, "max_tokens": 8192 if p < 2 else 512},
        )
        for p in range(6)
        for d in range(5)
    ]
    batch = ingest(incident, service_user, script + people)
    # when
    result = analyse([batch])
    bot = signals_of(result, "bot")
    # then
    assert bot["volume"]["value"] == 48
    assert bot["active_span_hours"]["value"] == 47
    assert bot["gap_cv"]["value"] == 0.0
    assert bot["hour_entropy"]["value"] == pytest.approx(math.log2(24), abs=1e-6)
    assert bot["temperature_zero_rate"]["value"] == 1.0
    assert bot["temperature_zero_rate"]["p_value"] < 1e-10
    assert bot["max_tokens_rate"]["value"] == 1.0  # 8192: two people use it too
    assert bot["logprobs_rate"]["value"] == bot["multi_sample_rate"]["value"] == 1.0
    assert result["population"]["max_tokens_threshold"] == 8192
    person = signals_of(result, "person-3")
    assert person["temperature_zero_rate"]["value"] == 0.0
    assert person["temperature_zero_rate"]["p_value"] > 0.5
    assert person["hour_entropy"]["value"] == 0.0  # always the same hour
    assert result["population"]["baselines"]["volume"] == 5.0


@pytest.mark.django_db
def test_every_signal_has_a_value_a_baseline_and_a_sentence(incident, service_user):
    batch = ingest(
        incident,
        service_user,
        [
            row(f"acct-{a}", START + timedelta(minutes=13 * i + a))
            for a in range(3)
            for i in range(5)
        ],
    )
    result = analyse([batch])
    json.dumps(result, allow_nan=False)  # valid JSON: no NaN, no infinity
    for account in result["accounts"]:
        assert len(account["signals"]) == 10
        for name, signal in account["signals"].items():
            assert set(signal) >= {"value", "baseline", "explanation"}, name
            assert signal["explanation"].endswith("."), name
        assert "p_value" in account["signals"]["logprobs_rate"]
    assert [a["volume"] for a in result["accounts"]] == [5, 5, 5]


@pytest.mark.django_db
def test_templated_prompts_match_across_accounts_and_plain_ones_do_not(
    incident, service_user
):
    # given: two accounts fill one long template; a third writes its own prompts
    fills = ["eigenvalues", "Bayes theorem", "hash tables", "the chain rule"]
    records = [
        row(
            account,
            START + timedelta(minutes=10 * i + n),
            prompt=TEMPLATE.format(fill=fill),
        )
        for n, account in enumerate(("ring-a", "ring-b"))
        for i, fill in enumerate(fills[n:] + fills[:n])
    ] + [
        row(
            "loner",
            START + timedelta(minutes=5 * i),
            prompt=f"my own question number {i} about gardens and rivers",
        )
        for i in range(4)
    ]
    batch = ingest(incident, service_user, records)
    # when
    result = analyse([batch], edge_threshold=0.1, min_cluster_size=2)
    # then
    assert signals_of(result, "ring-a")["template_rate"]["value"] == 1.0
    assert signals_of(result, "loner")["template_rate"]["value"] == 0.0
    assert (
        "4 of 4 sampled prompts"
        in signals_of(result, "ring-a")["template_rate"]["explanation"]
    )
    edge = result["edges"][0]
    assert {edge["a"], edge["b"]} == {"ring-a", "ring-b"}
    assert edge["reasons"] == ["share 1 prompt template"]  # four fills, one template


@pytest.mark.django_db
def test_prompts_logged_as_hashes_match_exactly_unless_they_are_short(
    incident, service_user
):
    digest = "ab" * 32
    short = "cd" * 32
    records = [
        {
            "timestamp": (START + timedelta(minutes=i)).isoformat(),
            "account_id": account,
            "prompt_sha256": h,
            "prompt_tokens": tokens,
        }
        for i, (account, h, tokens) in enumerate(
            [
                ("a", digest, 120),
                ("b", digest, 120),
                ("a", short, 2),  # "hello": shared by many honest users
                ("b", short, 2),
                ("c", "ef" * 32, 120),
            ]
        )
    ]
    result = analyse([ingest(incident, service_user, records)])
    assert signals_of(result, "a")["template_rate"]["value"] == 1.0  # 1 of 1 compared
    assert signals_of(result, "c")["template_rate"]["value"] == 0.0
    assert result["population"]["prompt_sample"]["templates_shared"] == 1


@pytest.mark.django_db
def test_odd_but_valid_rows_still_give_valid_json(incident, service_user):
    # given: the edges of the contract: years 2000 and 2099, a huge max_tokens, a
    # string temperature, logprobs false, IPv6, text in several scripts, one request
    records = [
        {"timestamp": "2000-01-01T00:00:00Z", "account_id": "ancient", "ip": "::1"},
        {"timestamp": "2099-12-31T23:59:59Z", "account_id": "ancient", "ip": "::1"},
        {
            "timestamp": "2026-11-02T03:14:00+02:00",
            "account_id": "Zürich-東京",
            "ip": "2001:db8::7",
            "prompt": "données 数据 " * 40,
            "params": {"max_tokens": 1e300, "temperature": "0", "logprobs": False},
        },
        {"timestamp": "2026-11-02T03:15:00Z", "account_id": "once", "params": {"n": 1}},
    ]
    # when
    result = analyse([ingest(incident, service_user, records)], edge_threshold=0.01)
    # then
    json.dumps(result, allow_nan=False)
    odd = signals_of(result, "Zürich-東京")
    assert odd["temperature_zero_rate"]["value"] == 0.0  # "0" is not the number 0
    assert odd["logprobs_rate"]["value"] == 0.0
    ancient = next(a for a in result["accounts"] if a["account_id"] == "ancient")
    assert (ancient["first_seen"], ancient["last_seen"]) == (
        "2000-01-01T00:00:00Z",
        "2099-12-31T23:59:59Z",
    )
    assert signals_of(result, "once")["gap_cv"]["value"] is None
