"""The Celery app is configured from settings and its broker answers (Redis in CI,
the filesystem broker in development)."""

from django.conf import settings

from config.celery import app


def test_the_configured_broker_accepts_connections():
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=3)
        assert connection.connected


def test_beat_schedules_the_daily_custody_check_and_job_recovery():
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "evidence.tasks.custody_verify_all_task" in tasks
    # one recovery for every job kind (dossiers, analyses, ...)
    assert "jobs.tasks.job_recover_stale_task" in tasks
    app.loader.import_default_modules()  # what a worker does at start
    assert set(app.tasks) >= tasks


def test_tasks_serialise_as_json_only():
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
