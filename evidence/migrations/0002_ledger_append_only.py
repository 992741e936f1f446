from django.db import migrations

from config import append_only


def create_ledger_head(apps, schema_editor):
    apps.get_model("evidence", "LedgerHead").objects.get_or_create(id=1)


class Migration(migrations.Migration):
    dependencies = [("evidence", "0001_initial")]

    operations = [
        migrations.RunPython(*append_only.operations("evidence_custodyevent")),
        migrations.RunPython(*append_only.operations("evidence_checkpoint")),
        migrations.RunPython(create_ledger_head, migrations.RunPython.noop),
    ]
