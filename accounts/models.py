from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class User(AbstractUser):
    class Role(models.TextChoices):
        ADMIN = "admin", "Administrator"
        ANALYST = "analyst", "Security analyst"
        COUNSEL = "counsel", "Counsel"
        REVIEWER = "reviewer", "Reviewer (read-only)"
        SERVICE = "service", "Detection tool (service)"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANALYST)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    role__in=["admin", "analyst", "counsel", "reviewer", "service"]
                ),
                name="user_role_valid",
            )
        ]

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN or self.is_superuser

    @property
    def can_edit_cases(self) -> bool:
        """Analysts, counsel and admins change cases; reviewers and tools do not."""
        return self.is_admin or self.role in (self.Role.ANALYST, self.Role.COUNSEL)

    @property
    def can_submit_evidence(self) -> bool:
        """Case editors and detection tools push evidence, logs, alerts and results."""
        return self.can_edit_cases or self.role == self.Role.SERVICE

    @property
    def can_see_privileged(self) -> bool:
        """Privileged (attorney work product) notes stay with the case team."""
        return self.can_edit_cases


class Membership(models.Model):
    """A user's access to one incident. Non-admins see only incidents they belong to."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.PROTECT, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships"
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "user"], name="membership_unique"
            )
        ]


class ApiToken(models.Model):
    class Scope(models.TextChoices):
        READ = "read", "Read"
        INGEST = "ingest", "Ingest"
        WRITE = "write", "Write"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=8, choices=Scope.choices)
    # Only a SHA-256 of the secret is kept; the secret is shown once at creation.
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scope__in=["read", "ingest", "write"]),
                name="api_token_scope_valid",
            )
        ]

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return not self.is_revoked and not self.is_expired


class SecurityEvent(models.Model):
    """Append-only record of sign-ins, failures and token changes."""

    class Kind(models.TextChoices):
        SIGNED_IN = "signed_in", "Signed in"
        SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
        SIGN_IN_THROTTLED = "sign_in_throttled", "Sign-in refused (throttled)"
        SIGNED_OUT = "signed_out", "Signed out"
        TOKEN_CREATED = "token_created", "API token created"
        TOKEN_REVOKED = "token_revoked", "API token revoked"
        USER_CREATED = "user_created", "User created"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    username = models.CharField(max_length=150, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["kind", "username", "at"])]


class SignInThrottle(models.Model):
    """Sign-in attempts counted against one key in a fixed window.

    Keys are `account:<address>:<username>` and `address:<address>`; the design is
    stated in `accounts.services.sign_in_attempt_reserve`. Counters, not records: the
    security log (SecurityEvent) keeps what happened.
    """

    key = models.CharField(max_length=255, unique=True)
    attempts = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField(default=timezone.now)
