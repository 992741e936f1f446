from django.conf import settings
from django.db import models
from django.utils import timezone

from evidence.models import Evidence
from incidents.models import Incident


class Dossier(models.Model):
    """One request for a court-ready PDF of an incident, and the job that renders it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RENDERING = "rendering", "Rendering"
        SIGNING = "signing", "Signing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="dossiers"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    bates_prefix = models.CharField(max_length=20)
    sections = models.JSONField(default=list)
    sign = models.BooleanField(default=False)
    prepared_for = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    evidence = models.OneToOneField(
        Evidence,
        on_delete=models.PROTECT,
        related_name="dossier",
        null=True,
        blank=True,
    )
    sha256 = models.CharField(max_length=64, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    pages = models.PositiveIntegerField(null=True, blank=True)
    bates_first = models.CharField(max_length=40, blank=True)
    bates_last = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="dossier_progress_max_100"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="done") | models.Q(evidence__isnull=False),
                name="dossier_done_has_evidence",
            ),
        ]

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)
