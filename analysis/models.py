from django.db import models

from evidence.models import Evidence
from incidents.models import Incident
from jobs.models import Job


class Analysis(Job):
    """One account-linkage analysis of an incident's query logs, and the job that runs
    it. What it read (batches with their Merkle roots), with which code and parameters,
    is fixed when the job starts, so the result can be reproduced and compared."""

    task = "analysis.tasks.analysis_compute_task"
    stale_after_setting = "ANALYSIS_STALE_SECONDS"

    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="analyses"
    )
    parameters = models.JSONField(default=dict)
    parameters_sha256 = models.CharField(max_length=64)
    code_version = models.CharField(max_length=100)
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

    class Meta(Job.Meta):
        verbose_name_plural = "analyses"
        constraints = [
            *Job.Meta.constraints,
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
    def rows_read(self) -> int:
        return sum(batch.get("rows", 0) for batch in self.batches or [])
