from django.conf import settings
from django.db import models
from django.utils import timezone

from evidence.models import Evidence
from incidents.models import Incident


class Analysis(models.Model):
    """One account-linkage analysis of an incident's query logs, and the job that runs
    it. What it read (batches with their Merkle roots), with which code and parameters,
    is fixed when the job starts, so the result can be reproduced and compared."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="analyses"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    parameters = models.JSONField(default=dict)
    parameters_sha256 = models.CharField(max_length=64)
    code_version = models.CharField(max_length=100)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # [{"id", "evidence", "exhibit", "rows", "merkle_root", "body_sha256"}, ...]
    batches = models.JSONField(default=list, blank=True)
    result = models.JSONField(null=True, blank=True)
    clusters_count = models.PositiveIntegerField(null=True, blank=True)
    accounts_count = models.PositiveIntegerField(null=True, blank=True)
    evidence = models.OneToOneField(
        Evidence,
        on_delete=models.PROTECT,
        related_name="analysis",
        null=True,
        blank=True,
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name_plural = "analyses"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="analysis_progress_max_100"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["queued", "running", "done", "failed"]),
                name="analysis_status_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="done")
                | (models.Q(evidence__isnull=False) & models.Q(result__isnull=False)),
                name="analysis_done_has_evidence_and_result",
            ),
        ]

    def __str__(self) -> str:
        return f"Analysis {self.pk} of {self.incident_id}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def rows_read(self) -> int:
        return sum(batch.get("rows", 0) for batch in self.batches or [])
