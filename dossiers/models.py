from django.db import models

from evidence.models import Evidence
from incidents.models import Incident
from jobs.models import Job


class Dossier(Job):
    """One request for a court-ready PDF of an incident, and the job that renders it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RENDERING = "rendering", "Rendering"
        SIGNING = "signing", "Signing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    live_statuses = (Status.RENDERING, Status.SIGNING)
    task = "dossiers.tasks.dossier_render_task"
    stale_after_setting = "DOSSIER_STALE_SECONDS"

    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="dossiers"
    )
    bates_prefix = models.CharField(max_length=20)
    sections = models.JSONField(default=list)
    sign = models.BooleanField(default=False)
    prepared_for = models.CharField(max_length=200, blank=True)
    # The live statuses say which step runs; the API and pages show them as they are.
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.QUEUED
    )
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

    class Meta(Job.Meta):
        constraints = [
            *Job.Meta.constraints,
            models.CheckConstraint(
                condition=~models.Q(status="done") | models.Q(evidence__isnull=False),
                name="dossier_done_has_evidence",
            ),
        ]
