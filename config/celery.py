import logging
import os
from pathlib import Path

from celery import Celery
from kombu.exceptions import OperationalError as BrokerError

from config.errors import ServiceUnavailable

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("casebook")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The folders of kombu's filesystem broker (the default of a newcomer's `make run`),
# which kombu does not make itself.
FILESYSTEM_BROKER_FOLDERS = (
    "data_folder_in",
    "data_folder_out",
    "processed_folder",
    "control_folder",
)


@app.on_after_configure.connect
def filesystem_broker_folders(sender: Celery, **kwargs) -> None:
    """Make the filesystem broker's folders when Celery is first configured (the
    first message sent, the worker starting), not when the settings are imported."""
    if not str(sender.conf.broker_url).startswith("filesystem://"):
        return
    options = sender.conf.broker_transport_options or {}
    for name in FILESYSTEM_BROKER_FOLDERS:
        if options.get(name):
            Path(options[name]).mkdir(parents=True, exist_ok=True)


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
