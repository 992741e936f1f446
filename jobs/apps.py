from django.apps import AppConfig


class JobsConfig(AppConfig):
    """Installed so that Celery finds jobs/tasks.py; no tables (Job is abstract)."""

    name = "jobs"
