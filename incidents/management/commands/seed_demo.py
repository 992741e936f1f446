"""Load a realistic demo case. Safe to run again: existing demo data is left alone."""

from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from accounts.services import membership_add, user_create
from incidents import services
from incidents.models import Incident

DEMO_PASSWORD = "casebook-demo-2026"
DEMO_USERS = [
    ("admin", User.Role.ADMIN, "Ada Admin"),
    ("alice", User.Role.ANALYST, "Alice Analyst"),
    ("carol", User.Role.COUNSEL, "Carol Counsel"),
    ("rachel", User.Role.REVIEWER, "Rachel Reviewer"),
]
DEMO_TITLE = "Hydra distillation campaign against atlas-2"


class Command(BaseCommand):
    help = "Create demo users and one distillation incident (idempotent)."

    def handle(self, *args, **options):
        users = {}
        for username, role, name in DEMO_USERS:
            users[username] = User.objects.filter(
                username=username
            ).first() or user_create(
                username=username, role=role, password=DEMO_PASSWORD, full_name=name
            )
        if not User.objects.filter(username="detector").exists():
            user_create(
                username="detector", role=User.Role.SERVICE, full_name="Detection tool"
            )

        if Incident.objects.filter(title=DEMO_TITLE).exists():
            self.stdout.write("Demo case already present.")
            return
        with transaction.atomic():
            self._seed_case(users)
        self.stdout.write("Demo case loaded.")

    def _seed_case(self, users: dict[str, User]) -> None:
        alice, carol = users["alice"], users["carol"]
        start = datetime(2026, 11, 2, 3, 14, tzinfo=UTC)
        incident = services.incident_open(
            by=alice,
            title=DEMO_TITLE,
            summary=(
                "Since 2 November, about 1,900 free-tier accounts created in bursts have "
                "queried atlas-2 with templated chain-of-thought prompts at temperature 0 "
                "and maximal max_tokens, staying under per-account rate limits. Traffic "
                "comes through residential proxies in two /24 networks and shares a "
                "payment fingerprint. The pattern matches harvesting for distillation."
            ),
            kind=Incident.Kind.DISTILLATION,
            severity=Incident.Severity.CRITICAL,
            tlp=Incident.Tlp.AMBER,
            affected_models=["atlas-2", "atlas-2-mini"],
            detected_at=start + timedelta(days=3, hours=6),
            subjects=[
                {"kind": "account", "value": "acct_7f3a91c2"},
                {"kind": "account", "value": "acct_7f3a91d8"},
                {"kind": "org", "value": "org_nimbus_labs"},
                {
                    "kind": "cidr",
                    "value": "203.0.113.0/24",
                    "note": "residential proxy pool",
                },
                {"kind": "ip", "value": "198.51.100.23"},
                {"kind": "asn", "value": "as64511"},
                {"kind": "payment_fp", "value": "pf_9c1e44b0d2"},
                {"kind": "email_domain", "value": "@Mailbox-Relay.example"},
                {"kind": "user_agent", "value": "python-httpx/0.27.0"},
            ],
        )
        for username in ("carol", "rachel"):
            membership_add(incident=incident, user=users[username], by=alice)
        services.incident_transition(incident=incident, by=alice, to="triage")
        services.incident_transition(incident=incident, by=alice, to="investigating")
        timeline = [
            (
                start,
                "First templated request",
                "Query log",
                "acct_7f3a91c2 sends the first of "
                "the 'Explain step by step' template prompts.",
            ),
            (
                start + timedelta(hours=20),
                "Account-creation burst",
                "Sign-up service",
                "412 accounts created within 40 minutes from 203.0.113.0/24.",
            ),
            (
                start + timedelta(days=3, hours=6),
                "Detector alert",
                "extraction-detector 4.2",
                "Cluster alert: 1,873 accounts linked by proxy range and payment fingerprint.",
            ),
            (
                start + timedelta(days=4),
                "Rate-limit evasion confirmed",
                "Analyst review",
                "No single account exceeds 60% of its limit; aggregate volume is 38M tokens/day.",
            ),
        ]
        for occurred_at, title, source, description in timeline:
            services.timeline_add(
                incident=incident,
                by=alice,
                occurred_at=occurred_at,
                title=title,
                source=source,
                description=description,
            )
        services.note_add(
            incident=incident,
            by=alice,
            body="Prompts follow 41 templates; responses were requested with logprobs=5.",
        )
        services.note_add(
            incident=incident,
            by=carol,
            privileged=True,
            body="Privileged: assess breach of ToS §4.2 (no model training on outputs) "
            "before contacting the reseller.",
        )
        services.task_add(
            incident=incident,
            by=alice,
            title="Export query logs for the linked accounts",
            assignee=alice,
            due_on=(start + timedelta(days=7)).date(),
        )
        services.task_add(
            incident=incident,
            by=carol,
            title="Prepare preservation letter to the reseller",
            assignee=carol,
            due_on=(start + timedelta(days=10)).date(),
        )
