"""Database triggers that make a table append-only, on PostgreSQL and SQLite.

Used from migrations: `migrations.RunPython(*append_only.operations("table"))`.
It lives in `config`, not in an app, because every app's migrations use it (the
incident history, the security log, the custody ledger, query-log rows and facets)
and `accounts` must not depend on `incidents`.

The trigger, not the application, is the last line of defence: an UPDATE or DELETE
from any code path, the admin or a stray shell session is refused by the database.
"""

from collections.abc import Callable

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

Migrate = Callable[[StateApps, BaseDatabaseSchemaEditor], None]

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION casebook_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def install(connection: BaseDatabaseWrapper, table: str) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(PG_FUNCTION)
            cursor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION casebook_refuse_change()"
            )
        elif connection.vendor == "sqlite":
            for operation in ("UPDATE", "DELETE"):
                cursor.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{operation.lower()} "
                    f"BEFORE {operation} ON {table} BEGIN "
                    f"SELECT RAISE(ABORT, 'table {table} is append-only: "
                    f"{operation} refused'); END"
                )
        else:
            raise NotImplementedError(f"append-only triggers for {connection.vendor}")


def uninstall(connection: BaseDatabaseWrapper, table: str) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        elif connection.vendor == "sqlite":
            for operation in ("update", "delete"):
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")


def operations(table: str) -> tuple[Migrate, Migrate]:
    """Forward and backward callables for `migrations.RunPython`."""

    def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        install(schema_editor.connection, table)

    def backward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        uninstall(schema_editor.connection, table)

    return forward, backward
