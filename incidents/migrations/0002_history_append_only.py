from django.db import migrations

from config import append_only


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial")]

    operations = [
        migrations.RunPython(*append_only.operations("incidents_historyentry")),
    ]
