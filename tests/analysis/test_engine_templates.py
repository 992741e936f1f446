"""Near-duplicate prompts: the groups and templates found do not depend on the order
the sampled rows arrive in (parallel scans return them in any order), nor on how
many threads shingle them."""

import random

import numpy as np

from analysis.engine import analysis_parameters_clean
from analysis.engine import templates as T
from tests.analysis.engine_helpers import TEMPLATE

WORDS = [
    "river",
    "stone",
    "cloud",
    "lamp",
    "violin",
    "harbour",
    "meadow",
    "copper",
    "lantern",
    "orchard",
]


def sampled_rows(rng: random.Random, accounts: int = 300) -> list[tuple[int, bytes]]:
    """(account, prompt): a third of the accounts fill in one template, the rest
    write their own prompts, some of them twice."""
    rows = []
    for account in range(accounts):
        for _ in range(rng.randint(2, 8)):
            if account % 3 == 0:
                text = TEMPLATE.format(fill=" ".join(rng.choices(WORDS, k=3)))
            else:
                text = " ".join(rng.choices(WORDS, k=rng.randint(4, 30)))
            rows.append((account, text.encode()))
    return rows


def test_templates_do_not_depend_on_the_order_rows_arrive_in():
    # given
    parameters = analysis_parameters_clean(None)
    rows = sampled_rows(random.Random(5))
    results = []
    for seed in range(3):
        # when: the same rows arrive in another order
        random.Random(seed).shuffle(rows)
        groups = T.near_duplicates([text for _, text in rows], parameters)
        accounts = np.array([account for account, _ in rows])
        results.append(T.templates(groups, accounts, 300))
    # then
    first = results[0]
    assert first.values and first.near_duplicate_pairs > 0
    for other in results[1:]:
        assert other.values == first.values
        assert other.near_duplicate_pairs == first.near_duplicate_pairs
        assert other.texts == first.texts
        for name in ("compared", "matched", "value_of", "account_of"):
            assert np.array_equal(getattr(other, name), getattr(first, name)), name


def test_shingles_are_the_same_on_one_thread_and_on_several(monkeypatch):
    # given: texts over several chunks
    rng = random.Random(9)
    texts = [
        " ".join(rng.choices(WORDS, k=rng.randint(3, 60))).encode()
        for _ in range(40_000)
    ]
    assert sum(map(len, texts)) > 3 * T.CHUNK_BYTES
    # when
    monkeypatch.setattr(T, "SHINGLE_THREADS", 1)
    serial = T.shingle(texts, 5)
    monkeypatch.setattr(T, "SHINGLE_THREADS", 4)
    threaded = T.shingle(texts, 5)
    # then
    assert np.array_equal(serial[0], threaded[0])
    assert np.array_equal(serial[1], threaded[1])
