"""Sign-in attempts are reserved atomically: parallel guesses cannot outrun the limit."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connections
from django.test import Client
from django.urls import reverse

from accounts.models import SecurityEvent, User
from tests.factories import UserFactory

PARALLEL = 16


class SlowHasher(PBKDF2PasswordHasher):
    """A real hash, slow enough that parallel checks overlap, not a production one."""

    iterations = 200_000


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passwords_check_at_most_the_limit(settings):
    # given a real (slow) password hash, so every check takes a while: the window in
    # which a check-then-act throttle lets parallel attempts through
    settings.PASSWORD_HASHERS = [f"{__name__}.SlowHasher"]
    settings.LOGIN_FAILURE_LIMIT = 5
    UserFactory(username="alice", role=User.Role.ANALYST)
    start = threading.Barrier(PARALLEL)

    def guess(n: int) -> int:
        client = Client(REMOTE_ADDR="203.0.113.66")
        start.wait()
        try:
            response = client.post(
                reverse("accounts:login"),
                {"username": "alice", "password": f"guess-{n}"},
            )
            return response.status_code
        finally:
            connections.close_all()

    # when 16 wrong passwords arrive at once, on 16 threads and database connections
    with ThreadPoolExecutor(PARALLEL) as pool:
        statuses = list(pool.map(guess, range(PARALLEL)))

    # then exactly the limit's worth were checked and failed; the rest were refused
    assert sorted(statuses) == [200] * 5 + [429] * (PARALLEL - 5)
    kinds = list(SecurityEvent.objects.values_list("kind", flat=True))
    assert kinds.count(SecurityEvent.Kind.SIGN_IN_FAILED) == 5
    assert kinds.count(SecurityEvent.Kind.SIGN_IN_THROTTLED) == PARALLEL - 5
