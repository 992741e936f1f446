"""Long jobs (dossiers, analyses, custody verifications and custody bundles, and the
kinds to come such as productions) share one model and one lifecycle.

Why a package of its own, and not inside one feature app: the lifecycle is the same
for every kind, and each kind belongs to its own feature app (``dossiers``,
``analysis``, later ``evidence`` and productions). Putting it in one of them would make
every other app import that feature to run a job, and the shared code would drift into copies again;
``config/`` holds settings and wiring, not domain code. ``jobs`` is an installed app
only so that Celery discovers ``jobs/tasks.py`` (the one recovery beat task); it has no
table of its own, because ``Job`` is abstract: every kind keeps its rows in its own
table, with the same columns.

- ``jobs.models.Job``: the abstract model (status, progress, stage, heartbeat,
  attempts, times, error) and what a kind declares (its live statuses, its task, its
  staleness setting).
- ``jobs.services``: the lifecycle, ``job_send`` → ``job_claim`` → ``job_progress`` →
  ``job_finish`` | ``job_fail`` | ``job_release``, and ``job_recover_stale``.
- ``jobs.tasks``: ``job_task``, the Celery task wrapper every kind's task is built
  with, and ``job_recover_stale_task``, the one beat entry that recovers every kind.
"""
