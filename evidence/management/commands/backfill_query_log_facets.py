from django.core.management.base import BaseCommand

from evidence.services.querylogs import query_log_facets_backfill


class Command(BaseCommand):
    help = (
        "Write the facets (per-account summaries an analysis reads) of every query-log "
        "batch that has none: batches loaded by a version without facets, e.g. while "
        "the facet migration ran. Safe to run at any time and more than once."
    )

    def handle(self, *args, **options):
        written = query_log_facets_backfill()
        if written:
            listed = ", ".join(str(batch) for batch in written)
            self.stdout.write(f"Facets written for {len(written)} batch(es): {listed}.")
        else:
            self.stdout.write("Every loaded batch has its facets.")
