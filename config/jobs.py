"""How the tasks of long jobs (dossiers, analyses) end, whatever happens inside.

A job row shows the user what became of the work, so a task never ends with the row
still claiming a live worker: a transient database error gives the job back to the
queue (the task's autoretry then claims it at once) and re-raises; running out of time
or any other crash fails the job with a reason the user can read.
"""

import contextlib
import logging
from collections.abc import Callable

from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError

logger = logging.getLogger(__name__)


def run_job(
    *,
    name: str,
    work: Callable[[], object],
    fail: Callable[[str], None],
    release: Callable[[], None],
    too_long: str,
) -> None:
    try:
        work()
    except SoftTimeLimitExceeded:
        fail(too_long)
    except OperationalError:
        with contextlib.suppress(OperationalError):  # the sweeper covers this case
            release()
        raise
    except Exception as error:  # surfaced to the user on the job, not swallowed
        logger.exception("%s failed", name)
        fail(f"{type(error).__name__}: {error}")
