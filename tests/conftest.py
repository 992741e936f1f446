from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import User
from config import append_only
from tests.factories import UserFactory, make_incident, make_token


def pytest_configure(config):
    # Settings make no folders when imported: the SQLite test database lives in var/,
    # and whitenoise warns about a missing static root.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


@pytest.fixture
def admin(db):
    return UserFactory(username="root", role=User.Role.ADMIN)


@pytest.fixture
def analyst(db):
    return UserFactory(username="alice", role=User.Role.ANALYST)


@pytest.fixture
def counsel(db):
    return UserFactory(username="carol", role=User.Role.COUNSEL)


@pytest.fixture
def reviewer(db):
    return UserFactory(username="rachel", role=User.Role.REVIEWER)


@pytest.fixture
def service_user(db):
    return UserFactory(username="detector", role=User.Role.SERVICE)


@pytest.fixture
def outsider(db):
    """An analyst who is not a member of the incidents under test."""
    return UserFactory(username="mallory", role=User.Role.ANALYST)


@pytest.fixture
def incident(analyst, counsel, reviewer, service_user):
    return make_incident(by=analyst, members=[counsel, reviewer, service_user])


def bearer(user: User, scope: str = "write") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user, scope)}")
    return client


@pytest.fixture
def api():
    """api(user, scope) -> a client authenticated with a fresh token; api() anonymous."""

    def build(user: User | None = None, scope: str = "write") -> APIClient:
        return bearer(user, scope) if user else APIClient()

    return build


APPEND_ONLY_TABLES = (
    "incidents_historyentry",
    "accounts_securityevent",
    "evidence_custodyevent",
    "evidence_checkpoint",
    "evidence_querylogrow",
    "evidence_querylogfacet",
)


@pytest.fixture(autouse=True)
def _sqlite_append_only_triggers(request):
    """SQLite's test flush DELETEs every table, which the append-only triggers refuse.
    So on SQLite each test that touches the database (re)installs the triggers, and a
    test that ends in a flush drops them just before it. PostgreSQL flushes with
    TRUNCATE, which row triggers do not see, and keeps the migration's triggers."""
    names = set(request.fixturenames)
    marker = request.node.get_closest_marker("django_db")
    flushes = bool({"transactional_db", "live_server"} & names) or bool(
        marker and marker.kwargs.get("transaction")
    )
    if connection.vendor != "sqlite" or not (flushes or marker or "db" in names):
        yield
        return
    if not marker:
        request.getfixturevalue("transactional_db" if flushes else "db")
    for table in APPEND_ONLY_TABLES:
        append_only.install(connection, table)
    yield
    if flushes:
        for table in APPEND_ONLY_TABLES:
            append_only.uninstall(connection, table)
