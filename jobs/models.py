"""The abstract job model: what every long job stores about its own progress."""

from typing import TYPE_CHECKING, ClassVar, Self

from django.conf import settings
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from incidents.models import Incident


class Job(models.Model):
    """Work a Celery worker does for a user: queued, then live (a worker holds it and
    beats its heart), then done or failed. A failed or done job is never reopened.

    A kind subclasses this with its own result fields and declares:
    - ``incident``, a foreign key with the kind's reverse name: every job belongs to an
      incident, and a failure is recorded in that incident's history;
    - ``task``, the dotted path of its Celery task (built with ``jobs.tasks.job_task``),
      which the lifecycle sends again when a job's message or worker was lost;
    - ``stale_after_setting``, the setting that says how many seconds without a
      heartbeat mean the worker is gone (and how long a queued job waits before it is
      sent again);
    - ``live_statuses`` when its work shows more than one status (dossiers: rendering,
      then signing); a claim sets the first.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    live_statuses: ClassVar[tuple[str, ...]] = (Status.RUNNING,)
    task: ClassVar[str]
    stale_after_setting: ClassVar[str]
    # Claims of one job, counted when a worker takes it; a job whose worker keeps
    # stopping is failed with the reason instead of being taken again.
    max_attempts: ClassVar[int] = 3

    if TYPE_CHECKING:
        incident: Incident
        incident_id: int
        # Django gives every concrete kind its default manager; the stubs give an
        # abstract model none.
        objects: ClassVar[models.Manager[Self]]

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    # The last sign of life: set by the worker while it runs, and when a queued job
    # is sent (again), so that the sweeper waits a full period before the next send.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__lte=100),
                name="%(class)s_progress_max_100",
            ),
        ]

    @property
    def is_finished(self) -> bool:
        return self.status in (Job.Status.DONE, Job.Status.FAILED)

    @property
    def is_live(self) -> bool:
        return self.status in self.live_statuses

    @classmethod
    def kind(cls) -> str:
        """The kind's name in history actions and logs: "dossier", "analysis"."""
        return str(cls._meta.model_name)

    @classmethod
    def kind_title(cls) -> str:
        return str(cls._meta.verbose_name).capitalize()

    @classmethod
    def stale_seconds(cls) -> int:
        return int(getattr(settings, cls.stale_after_setting))
