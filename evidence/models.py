from django.conf import settings
from django.db import models
from django.utils import timezone

from incidents.models import Incident
from jobs.models import Job


class Blob(models.Model):
    """Stored bytes, named by their SHA-256 and written once. Identical bytes are one
    blob however many evidence items refer to them."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    size = models.BigIntegerField()
    storage_name = models.CharField(max_length=200, unique=True)
    stored_at = models.DateTimeField(default=timezone.now)


class Evidence(models.Model):
    class Kind(models.TextChoices):
        FILE = "file", "File"
        QUERY_LOG = "query_log", "Query log"
        FORENSIC_RESULT = "forensic_result", "Forensic result"
        DOSSIER = "dossier", "Dossier"
        ANALYSIS = "analysis", "Analysis"

    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="evidence"
    )
    exhibit_number = models.PositiveIntegerField(editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.FILE)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=200, blank=True, help_text="Source system.")
    collected_by = models.CharField(max_length=200, blank=True)
    collected_at = models.DateTimeField(null=True, blank=True)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    received_at = models.DateTimeField(default=timezone.now)
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="items")
    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.BigIntegerField()
    media_type = models.CharField(max_length=120)
    # What the client called the file: metadata only, never used as a storage name.
    original_name = models.CharField(max_length=255, blank=True)
    is_privileged = models.BooleanField(default=False)
    is_sealed = models.BooleanField(default=False)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    withdrawn_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["incident_id", "exhibit_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "exhibit_number"],
                name="evidence_exhibit_per_incident",
            ),
            models.CheckConstraint(
                condition=models.Q(size__gte=1), name="evidence_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exhibit} {self.title}"

    @property
    def exhibit(self) -> str:
        return f"EX-{self.exhibit_number:04d}"

    @property
    def is_withdrawn(self) -> bool:
        return self.withdrawn_at is not None


class CustodyEvent(models.Model):
    """One entry of the custody ledger: an append-only RFC 6962 Merkle log over all
    evidence. `seq` is the leaf index; `body` holds the exact canonical JSON that is
    hashed (the other columns repeat it for querying). Triggers refuse UPDATE/DELETE.
    """

    class Action(models.TextChoices):
        RECEIVED = "received", "Received"
        INGESTED = "ingested", "Ingested"
        VIEWED = "viewed", "Viewed"
        DOWNLOADED = "downloaded", "Downloaded"
        TRANSFERRED = "transferred", "Transferred"
        ANALYSED = "analysed", "Analysed"
        EXPORTED = "exported", "Exported"
        VERIFIED = "verified", "Verified"
        SEALED = "sealed", "Sealed"
        WITHDRAWN = "withdrawn", "Withdrawn"
        HOLD_SET = "hold_set", "Legal hold set"
        HOLD_RELEASED = "hold_released", "Legal hold released"
        NOTE = "note", "Note"

    seq = models.BigIntegerField(unique=True)
    evidence = models.ForeignKey(
        Evidence, on_delete=models.PROTECT, related_name="custody"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    actor_name = models.CharField(max_length=150)
    at = models.DateTimeField()
    location = models.CharField(max_length=200, blank=True)
    purpose = models.TextField(blank=True)
    sha256_observed = models.CharField(max_length=64, null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)
    leaf_hash = models.CharField(max_length=64)
    body = models.TextField()

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["evidence", "seq"])]


class LedgerHead(models.Model):
    """The single row that serialises appends: locked by every writer, it holds the
    tree size and the compact Merkle frontier (roots of the perfect subtrees), so an
    append and a new root cost O(log n)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    size = models.BigIntegerField(default=0)
    frontier = models.JSONField(default=list)


class Checkpoint(models.Model):
    """A signed statement of the ledger's size and root. Kept forever."""

    tree_size = models.BigIntegerField(unique=True)
    root_hash = models.CharField(max_length=64)
    signed_at = models.CharField(max_length=40)  # the exact signed text, RFC 3339 Z
    key_id = models.CharField(max_length=16)
    signature = models.CharField(max_length=100)

    class Meta:
        ordering = ["tree_size"]


class QueryLogBatch(models.Model):
    """One POST of query logs: the exact received bytes are an evidence item, and the
    Merkle root over the batch's row hashes ties every parsed row to those bytes."""

    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="query_log_batches"
    )
    # Set in the same transaction as the rows; null only while a batch is being loaded.
    evidence = models.OneToOneField(
        Evidence, on_delete=models.PROTECT, related_name="query_log_batch", null=True
    )
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    received_at = models.DateTimeField(default=timezone.now)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    content_type = models.CharField(max_length=40)
    content_encoding = models.CharField(max_length=20, blank=True)
    body_sha256 = models.CharField(max_length=64)
    rows = models.PositiveIntegerField(default=0)
    merkle_root = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "idempotency_key"],
                name="query_log_batch_idempotency",
            )
        ]


class QueryLogRow(models.Model):
    """One API request as the detector reported it. `line` and `row_sha256` (of the
    row's canonical JSON) trace it back to the batch's received bytes."""

    batch = models.ForeignKey(
        QueryLogBatch, on_delete=models.PROTECT, related_name="log_rows"
    )
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="+")
    line = models.PositiveIntegerField()
    row_sha256 = models.CharField(max_length=64)
    timestamp = models.DateTimeField()
    account_id = models.CharField(max_length=256)
    request_id = models.CharField(max_length=256, blank=True)
    org_id = models.CharField(max_length=256, blank=True)
    api_key_fp = models.CharField(max_length=256, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=1024, blank=True)
    model = models.CharField(max_length=200, blank=True)
    prompt = models.TextField(blank=True)
    prompt_sha256 = models.CharField(max_length=64, blank=True)
    response = models.TextField(blank=True)
    response_sha256 = models.CharField(max_length=64, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    params = models.JSONField(default=dict, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["timestamp", "id"]
        indexes = [
            models.Index(
                fields=["incident", "timestamp", "id"], name="qlr_incident_time"
            ),
            models.Index(
                fields=["incident", "account_id", "timestamp"],
                name="qlr_incident_account",
            ),
            models.Index(
                fields=["incident", "ip", "timestamp"], name="qlr_incident_ip"
            ),
            models.Index(
                fields=["incident", "model", "timestamp"], name="qlr_incident_model"
            ),
            models.Index(fields=["batch", "line"], name="qlr_batch_line"),
        ]


class QueryLogFacet(models.Model):
    """A batch's rows summed per account and per distinct combination of the values
    that can link accounts (address, key, organisation, client, payment fingerprint),
    with max_tokens, the prompt hash of rows logged without text, and counts of the
    parameters that mark harvesting. Written with the rows, in the same transaction
    (evidence.querylog_facets), so that an analysis reads a few rows per account
    instead of every request; derived, never evidence in itself."""

    batch = models.ForeignKey(
        QueryLogBatch, on_delete=models.PROTECT, related_name="facets"
    )
    account_id = models.CharField(max_length=256)
    ip = models.GenericIPAddressField(null=True, blank=True)
    api_key_fp = models.CharField(max_length=256, blank=True)
    org_id = models.CharField(max_length=256, blank=True)
    user_agent = models.CharField(max_length=1024, blank=True)
    # extra[querylog_facets.PAYMENT_KEY] as text ('' when absent).
    payment_fp = models.TextField(blank=True)
    max_tokens = models.FloatField(null=True, blank=True)  # null: not a number
    # Only of rows logged without prompt text, with their prompt_tokens.
    prompt_sha256 = models.CharField(max_length=64, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    rows = models.PositiveIntegerField()
    temperature_zero = models.PositiveIntegerField()
    with_logprobs = models.PositiveIntegerField()
    several_choices = models.PositiveIntegerField()  # n > 1


class ForensicResult(models.Model):
    """A finding produced elsewhere (watermark test, fingerprint, similarity) recorded
    with its statistics; the submission itself is kept as an evidence item."""

    class Verdict(models.TextChoices):
        SUPPORTS = "supports", "Supports"
        INCONCLUSIVE = "inconclusive", "Inconclusive"
        DOES_NOT_SUPPORT = "does_not_support", "Does not support"

    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="forensic_results"
    )
    evidence = models.OneToOneField(
        Evidence, on_delete=models.PROTECT, related_name="forensic_result"
    )
    method_family = models.CharField(max_length=100)
    method_name = models.CharField(max_length=200)
    method_version = models.CharField(max_length=100)
    suspect_model = models.CharField(max_length=200)
    parameters = models.JSONField(default=dict, blank=True)
    statistic_name = models.CharField(max_length=100)
    statistic_value = models.FloatField()
    p_value = models.FloatField()
    alpha = models.FloatField()
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    summary = models.TextField()
    limitations = models.JSONField(default=list, blank=True)
    artefacts = models.ManyToManyField(Evidence, related_name="+", blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["submitted_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(p_value__gte=0, p_value__lte=1),
                name="forensic_p_value_range",
            ),
            models.CheckConstraint(
                condition=~models.Q(verdict="supports")
                | models.Q(p_value__lte=models.F("alpha")),
                name="forensic_supports_needs_significance",
            ),
        ]


class CustodyVerification(Job):
    """A custody verification of one incident run by a worker, because re-hashing its
    evidence would take too long inside a request (CUSTODY_SYNC_MAX_BYTES). When done
    it holds exactly what the synchronous answer holds: ok, checked, failures."""

    task = "evidence.tasks.custody_verification_run_task"
    stale_after_setting = "CUSTODY_JOB_STALE_SECONDS"

    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="custody_verifications"
    )
    ok = models.BooleanField(null=True, blank=True)
    checked = models.PositiveIntegerField(null=True, blank=True)
    failures = models.JSONField(default=list, blank=True)

    class Meta(Job.Meta):
        constraints = [
            *Job.Meta.constraints,
            models.CheckConstraint(
                condition=~models.Q(status="done")
                | (models.Q(ok__isnull=False) & models.Q(checked__isnull=False)),
                name="custodyverification_done_has_result",
            ),
        ]

    def __str__(self) -> str:
        return f"Custody verification {self.pk} of {self.incident_id}"


class CustodyBundle(Job):
    """A custody bundle built by a worker for the user who asked for it (it holds what
    that user may see). The zip is a derived file, not evidence: it is kept in storage
    under `storage_name` (not as an evidence item with a custody chain of its own),
    while each item it holds gets an `exported` event when, and only when, the bundle
    was completely built."""

    task = "evidence.tasks.custody_bundle_build_task"
    stale_after_setting = "CUSTODY_JOB_STALE_SECONDS"

    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, related_name="custody_bundles"
    )
    include_files = models.BooleanField(default=True)
    storage_name = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    # What was recorded when it was built: [{"exhibit", "seq"}], one `exported` each.
    exported = models.JSONField(default=list, blank=True)

    class Meta(Job.Meta):
        constraints = [
            *Job.Meta.constraints,
            models.CheckConstraint(
                condition=~models.Q(status="done") | ~models.Q(storage_name=""),
                name="custodybundle_done_has_file",
            ),
        ]

    def __str__(self) -> str:
        return f"Custody bundle {self.pk} of {self.incident_id}"
