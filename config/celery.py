import logging
import os

from celery import Celery
from kombu.exceptions import OperationalError as BrokerError

from config.errors import ServiceUnavailable

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("casebook")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)
# How long a job request waits for the broker to answer before it is refused.
BROKER_PROBE_SECONDS = 3


def require_broker() -> None:
    """Refuse a job request (503) before anything is stored when the broker does not
    answer: a job row whose message cannot be sent would wait for a worker that never
    hears of it. Called by the services that queue jobs, before their transaction."""
    if app.conf.task_always_eager:
        return
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=0, timeout=BROKER_PROBE_SECONDS)
    except (BrokerError, OSError) as error:
        logger.warning("The broker does not answer: %s", error)
        raise ServiceUnavailable(
            "The job queue is not answering, so nothing was requested; try again "
            "in a moment."
        ) from None
