"""Importing the settings makes no folder; the filesystem broker's folders appear when
Celery is first configured. Run in a fresh interpreter on a copy of `config/`, whose
var/ is a temporary folder, so the checkout's own var/ plays no part."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "config"


def _run(base: Path, code: str) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CELERY_", "DATABASE_URL"))
    }
    env.update(
        DJANGO_DEBUG="true",
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONPATH=str(base),
    )
    subprocess.run(
        [sys.executable, "-c", code], cwd=base, env=env, check=True, timeout=60
    )


def test_importing_the_settings_makes_no_folder(tmp_path):
    shutil.copytree(CONFIG, tmp_path / "config")
    _run(tmp_path, "import config.settings")
    assert not (tmp_path / "var").exists()


def test_the_filesystem_broker_folders_are_made_when_celery_is_configured(tmp_path):
    shutil.copytree(CONFIG, tmp_path / "config")
    _run(tmp_path, "from config.celery import app; app.conf.broker_url")
    assert sorted(p.name for p in (tmp_path / "var" / "celery").iterdir()) == [
        "control",
        "processed",
        "queue",
    ]
    assert not (tmp_path / "var" / "static").exists()
