"""Settings for the test suite: the real settings with fast hashing and a fixed key."""

import os

os.environ.setdefault(
    "DJANGO_SECRET_KEY", "casebook-test-key-0123456789-abcdefghijklmnop"
)

from config.settings import *  # noqa: E402,F403
from config.settings import VAR_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = VAR_DIR / "test-media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Threads in tests (live server, concurrency tests) must not keep connections open,
# or the test database cannot be dropped at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory, so threads and the live server get real separate connections.
    # One file per process, so two test runs on one checkout do not collide.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")
    }

# A signing key per test run, never the development key in var/keys.
CUSTODY_SIGNING_KEY_PATH = VAR_DIR / f"test-keys-{os.getpid()}" / "custody-ed25519.pem"

# Unit tests run Celery tasks in-process when their transaction commits; CI and
# production always use a real broker and worker.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
