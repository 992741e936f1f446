from django.db import migrations

from config import append_only


class Migration(migrations.Migration):
    """Query-log rows and their facets never change once their batch is loaded: the
    database refuses UPDATE and DELETE, as for the custody ledger."""

    dependencies = [
        ("evidence", "0005_querylogfacet"),
    ]

    operations = [
        migrations.RunPython(*append_only.operations("evidence_querylogrow")),
        migrations.RunPython(*append_only.operations("evidence_querylogfacet")),
    ]
