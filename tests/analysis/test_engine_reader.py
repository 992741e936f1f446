"""How the engine reads a case: on PostgreSQL outside a transaction (as a worker runs
it) the prompt sample and the facets are read on threads of their own; inside one
(and on SQLite) in turn. Both give the same result, with the sample the parameters
ask for."""

import pytest
from django.db import transaction

from analysis.engine import analysis_parameters_clean, analysis_run, load
from evidence.models import QueryLogBatch
from tests.analysis.conftest import add_logs


@pytest.mark.django_db(transaction=True)
def test_a_worker_reads_the_same_sample_and_result_as_a_transaction(
    incident, service_user
):
    # given: the small case (two batches, 68 accounts) and a sample of 2 per account
    add_logs(incident, service_user)
    batches = list(QueryLogBatch.objects.values_list("pk", flat=True))
    parameters = analysis_parameters_clean({"prompt_sample": 2})

    # when: analysed as a worker would (no transaction open), then inside one
    as_worker = analysis_run(batch_ids=batches, parameters=parameters)
    with transaction.atomic():
        in_transaction = analysis_run(batch_ids=batches, parameters=parameters)

    # then: the fraction is about 2 rows per account, and nothing else differs
    population = as_worker["population"]
    expected = 2 * population["accounts"] / population["rows"]
    assert expected < 1
    assert population["prompt_sample"]["fraction"] == round(expected, 6)
    assert population["prompt_sample"]["distinct_prompts"] > 0
    assert as_worker == in_transaction


@pytest.mark.django_db(transaction=True)
def test_request_times_read_in_ranges_of_accounts_give_the_same_result(
    incident, service_user, monkeypatch
):
    # given: the small case, and its times read at most 50 at a time (PostgreSQL
    # reads a case's times in ranges of accounts, as an array holds 2^26 at most)
    add_logs(incident, service_user)
    batches = list(QueryLogBatch.objects.values_list("pk", flat=True))
    parameters = analysis_parameters_clean(None)
    whole = analysis_run(batch_ids=batches, parameters=parameters)
    monkeypatch.setattr(load, "PG_ARRAY_ROWS", 50)
    # when
    ranged = analysis_run(batch_ids=batches, parameters=parameters)
    # then
    assert ranged == whole
