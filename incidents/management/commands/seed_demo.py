"""Load a realistic demo case. Safe to run again: existing demo data is left alone."""

import gzip
import io
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from accounts.services import user_create
from analysis.campaign import Spec, population_generate
from evidence.services.forensics import forensic_result_record
from evidence.services.items import custody_add, evidence_add, legal_hold_change
from evidence.services.querylogs import query_log_ingest
from evidence.uploads import hashed_upload
from incidents import services
from incidents.alerts import alert_receive
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
        users["detector"] = User.objects.filter(
            username="detector"
        ).first() or user_create(
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
        for username in ("carol", "rachel", "detector"):
            services.membership_add(incident=incident, user=users[username], by=alice)
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
        self._seed_evidence(incident, alice, carol, start)
        alert_receive(
            by=users["detector"],
            source="extraction-detector",
            external_id="cluster-2026-11-05-0007",
            title="Linked account cluster harvesting chain-of-thought",
            severity="critical",
            detected_at=start + timedelta(days=3, hours=6),
            model="atlas-2",
            subjects=[
                {"kind": "cidr", "value": "203.0.113.0/24"},
                {"kind": "payment_fp", "value": "pf_9c1e44b0d2"},
            ],
            signals=[
                {
                    "name": "shared_payment_fingerprint",
                    "value": 1873,
                    "threshold": 20,
                    "p_value": None,
                    "explanation": "1,873 accounts pay with the same card fingerprint.",
                },
                {
                    "name": "template_rate",
                    "value": 0.94,
                    "threshold": 0.3,
                    "p_value": 1e-12,
                    "explanation": "94% of prompts match one of 41 templates.",
                },
            ],
            score=0.97,
        )

    def _seed_evidence(
        self, incident, alice: User, carol: User, start: datetime
    ) -> None:
        rows = ["timestamp,account_id,ip,model,prompt_tokens,completion_tokens"]
        for i in range(40):
            moment = start + timedelta(minutes=7 * i)
            rows.append(
                f"{moment:%Y-%m-%dT%H:%M:%SZ},acct_7f3a91{i % 4:02x},203.0.113.{i % 9 + 1},"
                f"atlas-2,{380 + i},{4096 - i}"
            )
        log = evidence_add(
            incident=incident,
            by=alice,
            upload=hashed_upload(
                ("\n".join(rows) + "\n").encode(), "gateway-export.csv"
            ),
            title="API gateway export, linked accounts",
            description="Requests of the four seed accounts, 2-3 November.",
            source="api-gateway",
            collected_by="Alice Analyst",
            collected_at=start + timedelta(days=4),
        )
        report = evidence_add(
            incident=incident,
            by=alice,
            upload=hashed_upload(
                b"Watermark detection on suspect model outputs\n"
                b"method: kirchenbauer-2023 v1.3, gamma=0.25, T=12000\n"
                b"z = 9.81, p = 5.1e-23, alpha = 0.01: supports\n",
                "watermark-report.txt",
            ),
            title="Watermark detection report",
            source="forensics",
            collected_by="Alice Analyst",
        )
        custody_add(
            evidence=log,
            by=alice,
            action="transferred",
            purpose="Copy to the forensic workstation for analysis",
            to_custodian="forensics-lab",
            location="SOC, Dublin",
        )
        custody_add(
            evidence=log,
            by=alice,
            action="analysed",
            purpose="Account linkage by shared IP and prompt templates",
            tool="casebook-linkage",
            tool_version="0.1",
        )
        custody_add(
            evidence=report,
            by=carol,
            action="sealed",
            purpose="Sealed as filed with the preservation letter",
        )
        batch, _ = query_log_ingest(
            incident=incident,
            by=alice,
            stream=io.BytesIO(demo_query_logs(start)),
            content_type="application/x-ndjson",
            content_encoding="gzip",
            idempotency_key="demo-gateway-export-1",
        )
        z = 9.81
        forensic_result_record(
            incident=incident,
            by=alice,
            method={"family": "watermark", "name": "kirchenbauer-z", "version": "1.3"},
            suspect_model="rival-labs/hydra-7b",
            parameters={"gamma": 0.25, "tokens_scored": 12000, "hash_key": "k-2026-09"},
            statistic={"name": "z", "value": z},
            p_value=0.5 * math.erfc(z / math.sqrt(2)),
            alpha=0.01,
            verdict="supports",
            summary="Suspect outputs carry atlas-2's watermark: the green-list rate is far "
            "above the 25% expected by chance.",
            limitations=[
                "Scored on 12,000 tokens of outputs sampled through the suspect's public API.",
                "Paraphrasing by the suspect would weaken, not create, the signal.",
            ],
            artefacts=[report.pk],
        )
        forensic_result_record(
            incident=incident,
            by=alice,
            method={
                "family": "fingerprint",
                "name": "canary-agreement",
                "version": "0.9",
            },
            suspect_model="rival-labs/hydra-7b",
            parameters={"canaries": 200, "reference_models": ["open-7b", "open-13b"]},
            statistic={"name": "agreement_rate", "value": 0.34},
            p_value=0.21,
            alpha=0.01,
            verdict="inconclusive",
            summary="Agreement on canary prompts is above the open reference models but not "
            "significantly.",
            limitations=[
                "A negative or inconclusive result proves nothing either way."
            ],
            artefacts=[log.pk, batch.evidence_id],  # type: ignore[list-item]  # the batch was stored with its evidence
        )
        legal_hold_change(
            incident=incident,
            by=carol,
            action="set",
            reason="Litigation reasonably anticipated",
        )


# The demo's query logs: ordinary accounts and one planted campaign, named as the case
# names them (its subjects), 20,000 rows in all. An analysis of the case finds the
# campaign as one cluster.
DEMO_POPULATION = Spec(
    benign=300,
    campaign_size=30,
    campaigns=1,
    benign_rows=(30, 70),
    campaign_rows=(120, 200),
    days=10,
    seed=2026,
    total_rows=20_000,
    named_accounts=("acct_7f3a91c2", "acct_7f3a91d8"),
    named_payment_fp="pf_9c1e44b0d2",
)


def demo_query_logs(start: datetime) -> bytes:
    """Gzip NDJSON from the campaign generator (analysis.campaign): deterministic, so
    reruns send the same bytes."""
    population = population_generate(replace(DEMO_POPULATION, start=start))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as body:
        population.write(body)
    return out.getvalue()
