from django.core.management.base import BaseCommand, CommandError

from evidence.services.verification import custody_verify
from incidents.models import Incident


class Command(BaseCommand):
    help = (
        "Re-hash every stored file, recompute every custody chain and the Merkle root, "
        "and check every signed checkpoint. Exits 1 and names each failure."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "reference", nargs="?", help="An incident, e.g. INC-2026-0001."
        )

    def handle(self, *args, reference=None, **options):
        incident = None
        if reference:
            incident = Incident.objects.filter(reference=reference).first()
            if incident is None:
                raise CommandError(f"There is no incident {reference}.")
        report = custody_verify(incident=incident, by=None)
        scope = reference or "all evidence"
        for failure in report.failures:
            self.stderr.write(f"FAIL {failure.evidence or 'ledger'}: {failure.problem}")
        if not report.ok:
            raise CommandError(
                f"Custody verification of {scope} failed: {len(report.failures)} problem(s) "
                f"in {report.checked} item(s)."
            )
        self.stdout.write(
            f"OK: {report.checked} item(s) of {scope} verified; ledger intact."
        )
