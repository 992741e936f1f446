"""python manage.py generate_campaign: a synthetic population of ordinary accounts with
planted extraction campaigns, ingested as query-log evidence or written to a file."""

import gzip
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from analysis.campaign import Spec, population_generate, population_ingest
from config.errors import DomainError
from incidents.models import Incident
from incidents.services import incident_open


def _span(text: str) -> tuple[int, int]:
    """'15' or '10-20' -> (low, high)."""
    try:
        low, _, high = text.partition("-")
        span = (int(low), int(high or low))
    except ValueError:
        raise CommandError(f"'{text}' is not a number or a range like 10-20.") from None
    if not 1 <= span[0] <= span[1]:
        raise CommandError(f"'{text}' must be a positive range, low to high.")
    return span


class Command(BaseCommand):
    help = (
        "Generate ordinary accounts and planted extraction campaigns (shared proxies, "
        "templated prompts, scripted timing) with their ground truth, and ingest them "
        "into an incident through the query-log service, or write them with --out."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--benign", type=int, default=5000)
        parser.add_argument("--campaign-size", type=int, default=200)
        parser.add_argument("--campaigns", type=int, default=1)
        parser.add_argument(
            "--rows-per-account", default="10-20", help="ordinary accounts, e.g. 10-20"
        )
        parser.add_argument(
            "--campaign-rows", default="20-40", help="campaign accounts, e.g. 20-40"
        )
        parser.add_argument("--days", type=int, default=14)
        parser.add_argument("--seed", type=int, default=Spec.seed)
        parser.add_argument("--total-rows", type=int, help="exactly this many rows")
        parser.add_argument("--incident", help="reference of the incident to add to")
        parser.add_argument(
            "--user",
            default="",
            help="who ingests (and opens the incident): a case editor or detection "
            "tool; default the first active admin",
        )
        parser.add_argument(
            "--out",
            type=Path,
            help="write NDJSON (gzip if it ends in .gz) and FILE.truth.json instead",
        )

    def handle(self, *args, **options) -> None:
        if options["benign"] < 0 or options["campaigns"] < 0 or options["days"] < 1:
            raise CommandError("--benign, --campaigns and --days must be positive.")
        spec = Spec(
            benign=options["benign"],
            campaign_size=options["campaign_size"],
            campaigns=options["campaigns"],
            benign_rows=_span(options["rows_per_account"]),
            campaign_rows=_span(options["campaign_rows"]),
            days=options["days"],
            seed=options["seed"],
            total_rows=options["total_rows"],
        )
        try:
            population = population_generate(spec)
        except ValueError as error:
            raise CommandError(str(error)) from None
        truth = population.truth()
        if options["out"]:
            self._write(population, truth, options["out"])
            return
        by = self._user(options["user"])
        incident = self._incident(options["incident"], by, spec)
        try:
            batch = population_ingest(population, incident=incident, by=by)
        except DomainError as error:
            raise CommandError(error.detail) from None
        truth["incident"], truth["batch"] = incident.reference, batch.pk
        self.stdout.write(json.dumps(truth, indent=2))
        self.stderr.write(
            f"Ingested {batch.rows:,} rows into {incident.reference} as batch "
            f"{batch.pk}; the ground truth is on standard output."
        )

    def _write(self, population, truth: dict, path: Path) -> None:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "wb") as out:
            size = population.write(out)
        truth_path = path.with_name(path.name + ".truth.json")
        truth_path.write_text(json.dumps(truth, indent=2))
        self.stdout.write(
            f"Wrote {truth['rows']:,} rows ({size:,} bytes of NDJSON) to {path} and "
            f"the ground truth to {truth_path}."
        )

    def _user(self, username: str) -> User:
        if username:
            user = User.objects.filter(username=username, is_active=True).first()
        else:
            user = (
                User.objects.filter(role=User.Role.ADMIN, is_active=True)
                .order_by("id")
                .first()
            )
        if user is None:
            raise CommandError(f"No active user '{username or 'admin'}'; use --user.")
        return user

    def _incident(self, reference: str | None, by: User, spec: Spec) -> Incident:
        if reference:
            incident = Incident.objects.filter(reference=reference).first()
            if incident is None:
                raise CommandError(f"No incident {reference}.")
            return incident
        try:
            return incident_open(
                by=by,
                title=f"Generated campaign (seed {spec.seed})",
                summary=f"{spec.benign:,} ordinary accounts and {spec.campaigns} "
                f"planted campaign(s) of {spec.campaign_size} accounts, generated "
                "by generate_campaign.",
                kind=Incident.Kind.DISTILLATION,
                severity=Incident.Severity.MEDIUM,
            )
        except DomainError as error:
            raise CommandError(error.detail) from None
