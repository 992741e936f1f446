"""References are allocated race-free: parallel openers get distinct, gapless numbers."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from config.errors import InvalidInput
from incidents import services
from incidents.models import Incident
from tests.factories import UserFactory

WORKERS = 8
PER_WORKER = 3


@pytest.mark.django_db(transaction=True)
def test_parallel_openers_get_distinct_gapless_references():
    # given
    opener = UserFactory(role="analyst")
    barrier = threading.Barrier(WORKERS)
    errors = []

    def open_some():
        try:
            barrier.wait()
            for n in range(PER_WORKER):
                services.incident_open(
                    by=opener, title=f"Parallel {n}", kind="other", severity="low"
                )
        except Exception as error:  # surfaced below; a thread cannot fail the test
            errors.append(error)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=open_some) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then
    assert errors == []
    year = timezone.now().year
    sequences = sorted(Incident.objects.values_list("sequence", flat=True))
    assert sequences == list(range(1, WORKERS * PER_WORKER + 1))
    references = set(Incident.objects.values_list("reference", flat=True))
    assert f"INC-{year}-0001" in references
    assert len(references) == WORKERS * PER_WORKER


def test_a_refused_opening_does_not_use_up_a_number(analyst):
    services.incident_open(by=analyst, title="First", kind="other", severity="low")
    with pytest.raises(InvalidInput):
        services.incident_open(
            by=analyst,
            title="Bad",
            kind="other",
            severity="low",
            subjects=[{"kind": "ip", "value": "999.1.1.1"}],
        )
    third = services.incident_open(
        by=analyst, title="Second", kind="other", severity="low"
    )
    assert third.sequence == 2


def test_reference_format(analyst):
    incident = services.incident_open(
        by=analyst, title="One", kind="other", severity="low"
    )
    assert incident.reference == f"INC-{timezone.now().year}-0001"
