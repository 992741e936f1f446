from django.db import migrations

from config import append_only


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_initial")]

    operations = [
        migrations.RunPython(*append_only.operations("accounts_securityevent")),
    ]
