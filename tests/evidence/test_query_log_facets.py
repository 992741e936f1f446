"""Query-log facets (evidence.models.QueryLogFacet): written by ingestion in the
batch's transaction, rebuilt by the backfill migration, read by the analysis, and
checked by it against the rows."""

import errno
import hashlib
import io
import ipaddress
import json
import os
import random
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from analysis.engine import analysis_run
from config import append_only
from config.errors import InsufficientStorage
from evidence.models import Evidence, QueryLogBatch, QueryLogFacet, QueryLogRow
from tests.analysis.engine_helpers import START, analyse, ingest, row
from tests.factories import UserFactory, make_incident

ABSENT = object()  # a field the record leaves out
ACCOUNTS = ("acct-a", "acct-b", "acct-c", "acct-d")
TEMPERATURES = (0, 0.0, "0", False, 0.7, [0], ABSENT)
LOGPROBS = (True, 5, 0.5, 0, "true", False, None, ABSENT)
CHOICES = (2, 1, 2.5, "3", True, ABSENT)
MAX_TOKENS = (4096, 4096.0, "4096", None, 512, ABSENT)
PAYMENTS = ("pf_1", 123, 7.5, "", None, True, False, ABSENT)
IPS = ("203.0.113.7", "2001:DB8::1", "2001:db8::1", ABSENT)
SHA = (
    hashlib.sha256(b"a long templated prompt").hexdigest(),
    hashlib.sha256(b"another prompt").hexdigest().upper(),  # stored lower-case
)
# (prompt, prompt_sha256, prompt_tokens)
PROMPTS = (
    ("Explain step by step ...", ABSENT, 12),
    ("Explain step by step ...", SHA[0], 12),  # text and hash: the hash is not kept
    (ABSENT, SHA[0], 40),
    (ABSENT, SHA[0], None),
    ("", SHA[1], 3),
    (ABSENT, ABSENT, 5),  # neither text nor hash
)
KEY = (
    "account_id",
    "ip",
    "api_key_fp",
    "org_id",
    "user_agent",
    "payment_fp",
    "max_tokens",
    "prompt_sha256",
    "prompt_tokens",
)
COUNTS = ("rows", "temperature_zero", "with_logprobs", "several_choices")
FACET_COLUMNS = tuple(
    f.attname for f in QueryLogFacet._meta.concrete_fields if f.name != "id"
)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _present(**fields) -> dict:
    return {name: value for name, value in fields.items() if value is not ABSENT}


def tricky_records(seed: int = 5, n: int = 90) -> list[dict]:
    """n records over four accounts, every awkward value of the facets' parameters
    mixed at random; about a third repeated (another time) so facets sum several."""
    rng = random.Random(seed)
    records: list[dict] = []
    while len(records) < n:
        prompt, sha, tokens = rng.choice(PROMPTS)
        payment = rng.choice(PAYMENTS)
        params = _present(
            temperature=rng.choice(TEMPERATURES),
            logprobs=rng.choice(LOGPROBS),
            n=rng.choice(CHOICES),
            max_tokens=rng.choice(MAX_TOKENS),
        )
        record = _present(
            account_id=rng.choice(ACCOUNTS),
            ip=rng.choice(IPS),
            api_key_fp=rng.choice(("key-1", ABSENT)),
            org_id=rng.choice(("org-1", "org-2", ABSENT)),
            user_agent=rng.choice(("sdk/1.0", ABSENT)),
            prompt=prompt,
            prompt_sha256=sha,
            prompt_tokens=tokens,
            params=params if params or rng.random() < 0.5 else ABSENT,
        )
        if payment is not ABSENT:
            if rng.random() < 0.5:
                record["extra"] = {"payment_fp": payment, "asn": 64511}
            else:  # an unknown top-level field, moved under extra by ingestion
                record["payment_fp"] = payment
        for _ in range(rng.choice((1, 1, 2, 3))):
            at = START + timedelta(seconds=7 * len(records))
            records.append({**record, "timestamp": at.isoformat()})
    return records[:n]


def expected_key(record: dict) -> tuple:
    """The facet a record belongs to, worked out here from the record as sent."""
    params = record.get("params", {})
    extra = record.get("extra", {})
    payment = extra.get("payment_fp", record.get("payment_fp"))
    max_tokens = params.get("max_tokens")
    prompt = record.get("prompt", "")
    sha = record.get("prompt_sha256", "").lower()
    hashed = sha if not prompt else ""
    return (
        record["account_id"],
        str(ipaddress.ip_address(record["ip"])) if "ip" in record else None,
        record.get("api_key_fp", ""),
        record.get("org_id", ""),
        record.get("user_agent", ""),
        ""
        if payment is None
        else json.dumps(payment)
        if isinstance(payment, bool)
        else str(payment),
        float(max_tokens) if _number(max_tokens) else None,
        hashed,
        record.get("prompt_tokens") if hashed else None,
    )


def expected_flags(record: dict) -> tuple[int, int, int]:
    """(temperature is the number 0, logprobs true or a positive number, n a number
    above 1), each 0 or 1."""
    params = record.get("params", {})
    temperature = params.get("temperature")
    logprobs = params.get("logprobs")
    n = params.get("n")
    return (
        int(_number(temperature) and temperature == 0),
        int(logprobs is True or (_number(logprobs) and logprobs > 0)),
        int(_number(n) and n > 1),
    )


def expected_facets(records: list[dict]) -> dict[tuple, tuple[int, ...]]:
    summed: dict[tuple, Counter] = {}
    for record in records:
        counts = summed.setdefault(expected_key(record), Counter())
        counts.update(dict(zip(COUNTS, (1, *expected_flags(record)), strict=True)))
    return {key: tuple(c[name] for name in COUNTS) for key, c in summed.items()}


def stored_facets(batch_id: int) -> dict[tuple, tuple[int, ...]]:
    """The batch's facets summed by their key (a key may be split over several facets;
    only the sums are specified)."""
    summed: dict[tuple, list[int]] = {}
    for facet in QueryLogFacet.objects.filter(batch_id=batch_id).values(*KEY, *COUNTS):
        counts = summed.setdefault(tuple(facet[k] for k in KEY), [0] * len(COUNTS))
        for i, name in enumerate(COUNTS):
            counts[i] += facet[name]
    return {key: tuple(counts) for key, counts in summed.items()}


def all_facet_rows() -> list[tuple]:
    rows = QueryLogFacet.objects.values_list(*FACET_COLUMNS)
    return sorted(rows, key=repr)


def ndjson(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def post(client, incident, body: bytes):
    return client.generic(
        "POST",
        f"/api/v1/incidents/{incident.reference}/query-logs/",
        body,
        content_type="application/x-ndjson",
    )


@pytest.fixture
def tool(service_user, api):
    return api(service_user, "ingest")


# Ingestion


def test_ingested_facets_account_for_every_row_and_flag(incident, tool):
    # given
    records = tricky_records()
    # when
    response = post(tool, incident, ndjson(records))
    # then
    assert response.status_code == 201, response.content
    batch_id = response.json()["id"]
    facets = QueryLogFacet.objects.filter(batch_id=batch_id)
    for account in ACCOUNTS:
        sent = [r for r in records if r["account_id"] == account]
        assert sent, "the seed must give every account rows"
        flags = [expected_flags(r) for r in sent]
        mine = facets.filter(account_id=account)
        assert sum(f.rows for f in mine) == len(sent), account
        assert sum(f.temperature_zero for f in mine) == sum(t for t, _, _ in flags)
        assert sum(f.with_logprobs for f in mine) == sum(lp for _, lp, _ in flags)
        assert sum(f.several_choices for f in mine) == sum(n for _, _, n in flags)
    # and each combination of linking values holds the rows that have it
    assert stored_facets(batch_id) == expected_facets(records)


def test_flags_count_numbers_only_and_facets_keep_values_as_text(incident, tool):
    # given: one account, one row per awkward value
    base = {"account_id": "acct-x", "ip": "203.0.113.7", "prompt": "hello there"}
    variants = [
        ({"temperature": 0}, {}),
        ({"temperature": 0.0}, {}),
        ({"temperature": "0"}, {}),
        ({"temperature": False}, {}),
        ({"temperature": 0.7}, {}),
        ({"logprobs": True}, {}),
        ({"logprobs": 5}, {}),
        ({"logprobs": 0}, {}),
        ({"logprobs": "true"}, {}),
        ({"logprobs": False}, {}),
        ({"n": 2}, {}),
        ({"n": 1}, {}),
        ({"n": 2.5}, {}),
        ({"n": "3"}, {}),
        ({"max_tokens": 4096}, {"payment_fp": 123}),
        ({"max_tokens": 4096.0}, {"payment_fp": "pf_1"}),
        ({"max_tokens": "4096"}, {"payment_fp": None}),
        ({"max_tokens": None}, {}),
    ]
    records = [
        {
            **base,
            "timestamp": (START + timedelta(minutes=i)).isoformat(),
            "params": params,
            **({"extra": extra} if extra else {}),
        }
        for i, (params, extra) in enumerate(variants)
    ]
    records.append(
        {
            "account_id": "acct-x",
            "timestamp": START.isoformat(),
            "prompt_sha256": SHA[1],
            "prompt_tokens": 30,
            "params": {"temperature": 0, "logprobs": 1, "n": 4},
        }
    )
    # when
    response = post(tool, incident, ndjson(records))
    # then
    assert response.status_code == 201, response.content
    facets = QueryLogFacet.objects.filter(batch_id=response.json()["id"])
    assert sum(f.rows for f in facets) == 19
    # temperature 0, 0.0 (+ the hashed row); logprobs true, 5 (+1); n 2, 2.5 (+1)
    assert sum(f.temperature_zero for f in facets) == 3
    assert sum(f.with_logprobs for f in facets) == 3
    assert sum(f.several_choices for f in facets) == 3
    by_payment = Counter()
    for f in facets:
        by_payment[(f.payment_fp, f.max_tokens)] += f.rows
    assert by_payment == {
        ("123", 4096.0): 1,
        ("pf_1", 4096.0): 1,
        ("", None): 17,  # "4096", null, absent: no number
    }
    (hashed,) = [f for f in facets if f.prompt_sha256]
    assert (hashed.prompt_sha256, hashed.prompt_tokens, hashed.rows) == (
        SHA[1].lower(),
        30,
        1,
    )
    assert {f.ip for f in facets} == {"203.0.113.7", None}
    assert all(f.prompt_tokens is None for f in facets if not f.prompt_sha256)


def test_a_rejected_batch_stores_no_facets(incident, tool):
    records = tricky_records(n=20)
    body = ndjson(records[:10]) + b'{"account_id": "acct-a"}\n' + ndjson(records[10:])
    response = post(tool, incident, body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["line"] == 11
    assert QueryLogFacet.objects.count() == 0
    assert QueryLogRow.objects.count() == 0
    assert QueryLogBatch.objects.count() == 0


def test_a_batch_failing_after_its_facets_were_written_keeps_none(
    incident, service_user, monkeypatch
):
    # given: the disk is full when the received bytes are stored, after the facets
    seen = []

    def full_disk(*args, **kwargs):
        seen.append(QueryLogFacet.objects.count())
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "link", full_disk)
    # when
    with pytest.raises(InsufficientStorage, match="no space left"):
        ingest(incident, service_user, tricky_records(n=20))
    # then: they had been written, and went with the rest of the batch
    assert seen and seen[0] > 0
    assert QueryLogFacet.objects.count() == 0
    assert (QueryLogRow.objects.count(), QueryLogBatch.objects.count()) == (0, 0)
    assert Evidence.objects.count() == 0


# The backfill migration and command


@pytest.mark.django_db(transaction=True)
def test_backfill_migration_recreates_the_facets_ingestion_wrote():
    # given: two batches in two incidents, ingested with their facets
    owner = UserFactory(role="analyst")
    first = ingest(make_incident(by=owner), owner, tricky_records(seed=1, n=60))
    second = ingest(make_incident(by=owner), owner, tricky_records(seed=2, n=45))
    written = all_facet_rows()
    assert {r[FACET_COLUMNS.index("batch_id")] for r in written} == {first, second}
    executor = MigrationExecutor(connection)
    # when: back to before facets existed, then forward again
    try:
        executor.migrate([("evidence", "0004_forensicresult")])
        assert (
            QueryLogFacet._meta.db_table not in connection.introspection.table_names()
        )
    finally:
        # Forward to every app's newest migration, not a named one: a later migration
        # left unapplied would be missing for every test that runs after this one.
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    # then
    assert all_facet_rows() == written


def _without_facets(batch_ids: list[int]) -> None:
    """As for batches loaded before facets existed: only by lifting the table's
    append-only trigger, as an administrator would have to."""
    table = QueryLogFacet._meta.db_table
    append_only.uninstall(connection, table)
    try:
        QueryLogFacet.objects.filter(batch_id__in=batch_ids).delete()
    finally:
        append_only.install(connection, table)


@pytest.mark.django_db(transaction=True)
def test_the_backfill_command_writes_facets_for_batches_without_them():
    # given: two batches, one of them without its facets
    owner = UserFactory(role="analyst")
    incident = make_incident(by=owner)
    kept = ingest(incident, owner, tricky_records(seed=3, n=50))
    missing = ingest(incident, owner, tricky_records(seed=4, n=30))
    written = all_facet_rows()
    _without_facets([missing])
    with pytest.raises(RuntimeError, match=f"batch {missing} was loaded with 30 rows"):
        analysis_run(batch_ids=[kept, missing], parameters={})
    # when
    out = io.StringIO()
    call_command("backfill_query_log_facets", stdout=out)
    # then: the same facets as ingestion wrote, once
    assert f"1 batch(es): {missing}." in out.getvalue()
    assert all_facet_rows() == written
    out = io.StringIO()
    call_command("backfill_query_log_facets", stdout=out)
    assert "Every loaded batch has its facets." in out.getvalue()
    assert (
        analysis_run(batch_ids=[kept, missing], parameters={})["population"]["rows"]
        == 80
    )


# The analysis reads the facets


def population(n: int, payments: dict[str, list], keys=("payment_fp", "card")):
    """n accounts with two requests each and nothing else in common; `payments`
    gives some of them a payment value per request, under each of `keys` of extra
    (ABSENT: none; None: JSON null)."""
    records = []
    for a in range(n):
        account = f"acct-{a:02d}"
        values = payments.get(account, [ABSENT, ABSENT])
        for i, value in enumerate(values):
            fields = {"ip": f"10.{a}.0.{i + 1}", "user_agent": f"client-{a}"}
            if value is not ABSENT:
                fields["extra"] = dict.fromkeys(keys, value)
            records.append(
                row(account, START + timedelta(hours=a, minutes=17 * i), **fields)
            )
    return records


def payment_links(result: dict) -> tuple[list, list]:
    """(payment_fp shared attributes of all clusters, reasons of edges naming a
    card)."""
    shared = [
        entry
        for cluster in result["clusters"]
        for entry in cluster["shared_attributes"]
        if entry["kind"] == "payment_fp"
    ]
    reasons = [
        reason
        for edge in result["edges"]
        for reason in edge["reasons"]
        if "card fingerprint" in reason
    ]
    return shared, reasons


def test_payment_key_read_from_rows_gives_the_same_result_as_the_facets(
    incident, service_user
):
    # given: 16 accounts, payment values under both "payment_fp" and "card"
    payments = {
        "acct-00": ["card-7f3a", "card-7f3a"],
        "acct-01": ["card-7f3a", ABSENT],
        "acct-02": ["card-7f3a", "card-7f3a"],
        "acct-03": [4242, 4242],  # a number: '4242'
        "acct-04": [4242, None],
        "acct-05": [4242, 4242],
        "acct-06": ["card-b", "card-b"],
        "acct-07": ["card-b", "card-7f3a"],  # four accounts: the cap, still links
        **{f"acct-{a:02d}": ["wallet-app", "wallet-app"] for a in range(8, 13)},
        "acct-13": [None, ""],
    }
    batch = ingest(incident, service_user, population(16, payments))
    # when
    from_facets = analysis_run(batch_ids=[batch], parameters={"edge_threshold": 1.0})
    from_rows = analysis_run(
        batch_ids=[batch], parameters={"edge_threshold": 1.0, "payment_key": "card"}
    )
    # then
    assert from_rows == from_facets
    shared, reasons = payment_links(from_facets)
    assert {e["value"] for e in shared} == {"card-7f3a", "card-b", "4242"}
    assert "pay with card fingerprint 4242" in reasons
    assert sorted(len(c["accounts"]) for c in from_facets["clusters"]) == [3, 5]
    ignored = from_facets["population"]["ignored_common_values"]
    assert {"kind": "payment_fp", "value": "wallet-app", "accounts": 5} in ignored


def test_a_payment_key_other_than_the_facets_links_accounts_the_default_cannot(
    incident, service_user
):
    # given: three of 20 accounts share a card, only under "card"
    payments = {f"acct-0{a}": ["card-5c1f", "card-5c1f"] for a in range(3)}
    batch = ingest(incident, service_user, population(20, payments, keys=("card",)))
    # when
    default = analyse([batch], edge_threshold=1.0)
    by_card = analyse([batch], edge_threshold=1.0, payment_key="card")
    # then
    assert payment_links(default) == ([], [])
    assert default["clusters"] == []
    (cluster,) = by_card["clusters"]
    assert sorted(cluster["accounts"]) == ["acct-00", "acct-01", "acct-02"]
    shared, reasons = payment_links(by_card)
    assert [(e["value"], e["accounts"]) for e in shared] == [("card-5c1f", 3)]
    assert reasons == ["pay with card fingerprint card-5c1f"] * 3


def test_one_account_paying_with_1_and_1_0_is_read_alike_from_facets_and_rows(
    incident, service_user
):
    # given: acct-00 pays with 1 then 1.0 (JSON numbers) from one address, the
    # only value it shares with acct-01 and acct-02 (1.0) and with acct-03 and acct-04
    # (1): five accounts linked through it
    payments = {
        "acct-00": [1, 1.0],
        **{account: [1.0, 1.0] for account in ("acct-01", "acct-02")},
        **{account: [1, 1] for account in ("acct-03", "acct-04")},
    }
    records = population(20, payments)
    for record in records[:2]:
        record["ip"] = "10.0.0.1"
    batch = ingest(incident, service_user, records)
    # when
    from_facets = analyse([batch], edge_threshold=1.0)
    from_rows = analyse([batch], edge_threshold=1.0, payment_key="card")
    # then
    (cluster,) = from_rows["clusters"]
    assert sorted(cluster["accounts"]) == [f"acct-0{a}" for a in range(5)]
    assert from_facets == from_rows


# Tampering


@pytest.mark.parametrize("model", [QueryLogRow, QueryLogFacet])
def test_rows_and_facets_cannot_be_changed_or_deleted(model, incident, service_user):
    # given
    ingest(incident, service_user, tricky_records(n=10))
    table, first = model._meta.db_table, model.objects.order_by("pk")[0].pk
    # when / then: the database itself refuses, whoever asks
    for statement in (
        f'UPDATE {table} SET "account_id" = %s WHERE "id" = %s',  # noqa: S608
        f'DELETE FROM {table} WHERE "id" = %s AND "account_id" <> %s',  # noqa: S608
    ):
        params = (
            ["someone-else", first]
            if statement.startswith("UPDATE")
            else [
                first,
                "someone-else",
            ]
        )
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, params)
    assert model.objects.filter(pk=first).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("model", "tamper", "message"),
    [
        (
            QueryLogFacet,
            'DELETE FROM {table} WHERE "id" = %s',
            r"batch \d+ was loaded with 40 rows but its facets count \d+",
        ),
        (
            QueryLogFacet,
            'UPDATE {table} SET "rows" = "rows" + 1 WHERE "id" = %s',
            r"batch \d+ was loaded with 40 rows but its facets count 41",
        ),
        (
            QueryLogRow,
            'DELETE FROM {table} WHERE "id" = %s',
            "The batches hold 39 query-log rows but were loaded with 40",
        ),
    ],
    ids=["facet-deleted", "facet-recounted", "row-deleted"],
)
def test_rows_or_facets_changed_behind_the_database_s_back_stop_the_analysis(
    model, tamper, message
):
    # given: an analysable batch
    owner = UserFactory(role="analyst")
    batch = ingest(make_incident(by=owner), owner, tricky_records(n=40))
    assert analysis_run(batch_ids=[batch], parameters={})["population"]["rows"] == 40
    # when: the append-only trigger is lifted (only an administrator of the
    # database can) and a row or facet changed
    table = model._meta.db_table
    first = model.objects.filter(batch_id=batch).order_by("pk")[0].pk
    append_only.uninstall(connection, table)
    try:
        with connection.cursor() as cursor:
            cursor.execute(tamper.format(table=table), [first])
    finally:
        append_only.install(connection, table)
    # then
    with pytest.raises(RuntimeError, match=message):
        analysis_run(batch_ids=[batch], parameters={})
