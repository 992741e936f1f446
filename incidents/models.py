from django.conf import settings
from django.db import models
from django.utils import timezone


class Incident(models.Model):
    class Kind(models.TextChoices):
        DISTILLATION = "distillation", "Distillation"
        CAPABILITY_EXTRACTION = "capability_extraction", "Capability extraction"
        WEIGHT_EXFILTRATION = "weight_exfiltration", "Weight exfiltration"
        MODEL_INVERSION = "model_inversion", "Model inversion"
        MEMBERSHIP_INFERENCE = "membership_inference", "Membership inference"
        PROMPT_EXTRACTION = "prompt_extraction", "Prompt extraction"
        OTHER = "other", "Other"

    class Severity(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    class Tlp(models.TextChoices):
        CLEAR = "clear", "TLP:CLEAR"
        GREEN = "green", "TLP:GREEN"
        AMBER = "amber", "TLP:AMBER"
        AMBER_STRICT = "amber+strict", "TLP:AMBER+STRICT"
        RED = "red", "TLP:RED"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        TRIAGE = "triage", "Triage"
        INVESTIGATING = "investigating", "Investigating"
        LEGAL_REVIEW = "legal_review", "Legal review"
        REFERRED = "referred", "Referred"
        CLOSED = "closed", "Closed"

    reference = models.CharField(max_length=20, unique=True, editable=False)
    year = models.PositiveSmallIntegerField(editable=False)
    sequence = models.PositiveIntegerField(editable=False)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    tlp = models.CharField(max_length=16, choices=Tlp.choices, default=Tlp.AMBER)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.OPEN
    )
    affected_models = models.JSONField(default=list, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="owned_incidents",
        null=True,
        blank=True,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    detected_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    is_under_legal_hold = models.BooleanField(default=False)
    legal_hold_set_at = models.DateTimeField(null=True, blank=True)
    legal_hold_reason = models.TextField(blank=True)
    # Set when a custody verification fails; cleared only by a later clean one.
    custody_alert = models.TextField(blank=True)
    custody_alert_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["year", "sequence"], name="incident_year_seq"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    status__in=[
                        "open",
                        "triage",
                        "investigating",
                        "legal_review",
                        "referred",
                        "closed",
                    ]
                ),
                name="incident_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"]),
            models.Index(fields=["severity"]),
            models.Index(fields=["kind"]),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"


class ReferenceCounter(models.Model):
    """Last sequence handed out per year; locked while an incident is opened."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last_sequence = models.PositiveIntegerField(default=0)


class Subject(models.Model):
    class Kind(models.TextChoices):
        ACCOUNT = "account", "Account"
        ORG = "org", "Organisation"
        API_KEY_FP = "api_key_fp", "API key fingerprint"
        IP = "ip", "IP address"
        CIDR = "cidr", "Network (CIDR)"
        ASN = "asn", "Autonomous system"
        PAYMENT_FP = "payment_fp", "Payment fingerprint"
        EMAIL_DOMAIN = "email_domain", "E-mail domain"
        USER_AGENT = "user_agent", "User agent"

    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="subjects"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=512)
    note = models.TextField(blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "value"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "kind", "value"], name="subject_unique_per_incident"
            )
        ]
        indexes = [models.Index(fields=["kind", "value"])]


class TimelineEntry(models.Model):
    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="timeline"
    )
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["occurred_at", "id"]


class Note(models.Model):
    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="notes"
    )
    body = models.TextField()
    is_privileged = models.BooleanField(default=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]


class Task(models.Model):
    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="tasks"
    )
    title = models.CharField(max_length=200)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="assigned_tasks",
        null=True,
        blank=True,
    )
    due_on = models.DateField(null=True, blank=True)
    is_done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["is_done", "due_on", "id"]


class HistoryEntry(models.Model):
    """Append-only: every change to an incident, written by the service that made it.

    A database trigger refuses UPDATE and DELETE on this table.
    """

    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="history"
    )
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    action = models.CharField(max_length=48)
    summary = models.CharField(max_length=300)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["incident", "at"])]


class AlertKey(models.Model):
    """One row per (source, external_id) ever received, locked while a sighting of that
    key is recorded, so sightings of one key are handled one after another."""

    source = models.CharField(max_length=100)
    external_id = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="alert_key_unique"
            )
        ]


class Alert(models.Model):
    """A detection tool's alert, deduplicated on (source, external_id) within what the
    poster may see.

    A poster who cannot see the incident an earlier sighting landed on gets an alert of
    its own (and learns nothing of the other), so one key may be on several incidents,
    at most once on each.
    """

    class Status(models.TextChoices):
        NEW = "new", "New"
        PROMOTED = "promoted", "Promoted"
        MERGED = "merged", "Merged"
        DISMISSED = "dismissed", "Dismissed"

    source = models.CharField(max_length=100)
    external_id = models.CharField(max_length=200)
    title = models.CharField(max_length=200)
    severity = models.CharField(max_length=16, choices=Incident.Severity.choices)
    detected_at = models.DateTimeField()
    model = models.CharField(max_length=200, blank=True)
    # [{"kind", "value"}], values normalised per kind.
    subjects = models.JSONField(default=list, blank=True)
    # [{"name", "value", "threshold", "p_value", "explanation"}]
    signals = models.JSONField(default=list, blank=True)
    score = models.FloatField(null=True, blank=True)
    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="alerts"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    occurrences = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    dismissed_reason = models.TextField(blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id", "incident"],
                name="alert_key_once_per_incident",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    status__in=["new", "promoted", "merged", "dismissed"]
                ),
                name="alert_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(occurrences__gte=1), name="alert_occurrences_min"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="dismissed")
                | ~models.Q(dismissed_reason=""),
                name="alert_dismissal_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["status", "-last_seen_at"])]

    def __str__(self) -> str:
        return f"{self.source}/{self.external_id} {self.title}"

    @property
    def signal_summaries(self) -> list[str]:
        """Each signal as "name=value (p=...)", compact enough for a table cell."""
        shown = []
        for signal in self.signals:
            text = f"{signal['name']}={signal['value']:.4g}"
            if signal.get("p_value") is not None:
                text += f" (p={signal['p_value']:.2g})"
            shown.append(text)
        return shown
