"""Query-log facets (QueryLogFacet): what an account-linkage analysis needs from each
request, summed per account and per distinct combination of linking values.

One GROUP BY per batch, for both databases: ingestion inserts its result for the
batch it is loading, in the batch's transaction (evidence.services.querylogs), and
query_log_facets_backfill for batches loaded before facets existed. The analysis reads
the facets for accounts, linking values and harvesting counts, and the rows only for
request times, the prompt sample, and payment fingerprints under a key other than
PAYMENT_KEY (with payment_value).

Statements are assembled only from this module's constants (hence the S608 noqa);
every value is passed as a query parameter.
"""

from evidence.models import QueryLogFacet, QueryLogRow

PAYMENT_KEY = "payment_fp"  # the key of a row's `extra` the stored facets keep
ROWS = QueryLogRow._meta.db_table
FACETS = QueryLogFacet._meta.db_table
COLUMNS = (
    "batch_id",
    "account_id",
    "ip",
    "api_key_fp",
    "org_id",
    "user_agent",
    "payment_fp",
    "max_tokens",
    "prompt_sha256",
    "prompt_tokens",
    "rows",
    "temperature_zero",
    "with_logprobs",
    "several_choices",
)
# Kept as the rows hold them.
_STORED = (
    "r.batch_id",
    "r.account_id",
    "r.ip",
    "r.api_key_fp",
    "r.org_id",
    "r.user_agent",
)
# Rows logged without text keep their prompt hash (and its token count, so that an
# analysis can leave out prompts too short to be templates); others keep ''.
_HASHED = (
    "CASE WHEN r.prompt = '' THEN r.prompt_sha256 ELSE '' END",
    "CASE WHEN r.prompt = '' AND r.prompt_sha256 <> '' THEN r.prompt_tokens END",
)


def payment_value(vendor: str) -> str:
    """The text of row r's payment fingerprint, '' when it has none; the key is the
    parameter "key" (PostgreSQL) or "path" (SQLite) of payment_parameters."""
    if vendor == "postgresql":
        return "COALESCE((r.extra -> %(key)s) #>> '{}', '')"
    # json_extract gives true and false as 1 and 0; PostgreSQL's text is the JSON's.
    return (
        "CASE json_type(r.extra, %(path)s) WHEN 'true' THEN 'true' "
        "WHEN 'false' THEN 'false' "
        "ELSE COALESCE(CAST(json_extract(r.extra, %(path)s) AS TEXT), '') END"
    )


def payment_parameters(key: str) -> dict:
    return {"key": key, "path": f'$."{key}"'}


def _postgresql() -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    values = (
        *_STORED,
        payment_value("postgresql"),
        "CASE WHEN jsonb_typeof(r.params -> 'max_tokens') = 'number' "
        "THEN (r.params -> 'max_tokens')::float8 END",
        *_HASHED,
    )
    # Grouped by the values stored, not the raw jsonb: jsonb holds 1 and 1.0 equal,
    # and the group would keep the text of either.
    groups = f"{', '.join(_STORED)}, 7, 8, 9, 10"
    flags = (
        # Containment compares numbers as numbers (0.0 too) without extracting them.
        """r.params @> '{"temperature": 0}'::jsonb""",
        # jsonb orders booleans after numbers: "> 0 and < false" is a positive number.
        "r.params -> 'logprobs' = 'true'::jsonb OR (r.params -> 'logprobs' > "
        "'0'::jsonb AND r.params -> 'logprobs' < 'false'::jsonb)",
        "r.params -> 'n' > '1'::jsonb AND r.params -> 'n' < 'false'::jsonb",
    )
    return values, groups, flags


def _sqlite() -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    def number(path: str) -> str:
        return f"json_type(r.params, '$.{path}') IN ('integer', 'real')"

    values = (
        *_STORED,
        payment_value("sqlite"),
        f"CASE WHEN {number('max_tokens')} "
        "THEN json_extract(r.params, '$.max_tokens') END",
        *_HASHED,
    )
    flags = (
        f"{number('temperature')} AND json_extract(r.params, '$.temperature') = 0",
        f"json_type(r.params, '$.logprobs') = 'true' OR ({number('logprobs')} AND "
        "json_extract(r.params, '$.logprobs') > 0)",
        f"{number('n')} AND json_extract(r.params, '$.n') > 1",
    )
    return values, "1, 2, 3, 4, 5, 6, 7, 8, 9, 10", flags


def _select(vendor: str) -> str:
    """The SELECT of the facets of the rows `r` of batch %(batch)s, in COLUMNS'
    order."""
    values, groups, flags = _postgresql() if vendor == "postgresql" else _sqlite()
    counted = ["COUNT(*)"] + [f"COUNT(*) FILTER (WHERE {flag})" for flag in flags]
    return (
        f"SELECT {', '.join((*values, *counted))} FROM {ROWS} r "  # noqa: S608
        f"WHERE r.batch_id = %(batch)s GROUP BY {groups}"
    )


def insert_sql(vendor: str) -> str:
    """INSERT of batch %(batch)s's facets; parameters from insert_parameters."""
    columns = ", ".join(f'"{column}"' for column in COLUMNS)
    return f"INSERT INTO {FACETS} ({columns}) {_select(vendor)}"  # noqa: S608


def insert_parameters(batch_id: int) -> dict:
    return {"batch": batch_id, **payment_parameters(PAYMENT_KEY)}
