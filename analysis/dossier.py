"""The "Account linkage analysis" section of a dossier, as plain capped data: the
latest finished analysis of the incident when the snapshot is taken."""

import json
from typing import Any

from analysis.models import Analysis
from analysis.presentation import fmt_number, fmt_time, method_text, signal_rows
from analysis.services import TOOL
from evidence.services.custody import rfc3339
from incidents.models import Incident

MAX_CLUSTERS = 20
MAX_MEMBERS = 30
MAX_REASONS = 8
MAX_SHARED = 8
MAX_BATCHES = 100


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return fmt_number(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _cluster(cluster: dict) -> dict:
    accounts = [str(a) for a in cluster.get("accounts") or []]
    reasons = list(cluster.get("reasons") or [])
    shared = list(cluster.get("shared_attributes") or [])
    return {
        "id": cluster.get("id"),
        "size": len(accounts),
        "volume": fmt_number(cluster.get("volume"), "count"),
        "synchrony": fmt_number(cluster.get("synchrony"), "corr"),
        "first_seen": fmt_time(cluster.get("first_seen")),
        "last_seen": fmt_time(cluster.get("last_seen")),
        "reasons": reasons[:MAX_REASONS],
        "reasons_more": max(0, len(reasons) - MAX_REASONS),
        "shared": [
            {
                "kind": s.get("kind"),
                "value": s.get("value"),
                "accounts": s.get("accounts"),
                "weight": fmt_number(s.get("weight")),
            }
            for s in shared[:MAX_SHARED]
        ],
        "shared_more": max(0, len(shared) - MAX_SHARED),
        "signals": signal_rows(cluster.get("signals") or {}),
        "members": accounts[:MAX_MEMBERS],
        "members_more": max(0, len(accounts) - MAX_MEMBERS),
    }


def analysis_snapshot(incident: Incident) -> dict | None:
    """None when the incident has no finished analysis."""
    analysis = (
        # A withdrawn result is no longer evidence the dossier may cite.
        Analysis.objects.filter(
            incident=incident,
            status=Analysis.Status.DONE,
            evidence__withdrawn_at__isnull=True,
        )
        .select_related("requested_by", "evidence")
        .order_by("-finished_at", "-id")
        .first()
    )
    if analysis is None:
        return None
    result = analysis.result or {}
    clusters = result.get("clusters") or []
    population = result.get("population") or {}
    return {
        "id": analysis.pk,
        "tool": TOOL,
        "code_version": analysis.code_version,
        "requested_by": analysis.requested_by.username,
        "requested_at": fmt_time(rfc3339(analysis.requested_at)) + " UTC",
        "finished_at": fmt_time(rfc3339(analysis.finished_at)) + " UTC"
        if analysis.finished_at
        else "",
        "method": method_text(analysis.parameters or {}),
        "parameters": [
            {"name": name, "value": _value(value)}
            for name, value in sorted((analysis.parameters or {}).items())
        ],
        "parameters_sha256": analysis.parameters_sha256,
        "batches": [
            {
                "id": b.get("id"),
                "exhibit": b.get("exhibit"),
                "rows": f"{int(b.get('rows') or 0):,}",
                "merkle_root": b.get("merkle_root"),
            }
            for b in (analysis.batches or [])[:MAX_BATCHES]
        ],
        "batches_omitted": max(0, len(analysis.batches or []) - MAX_BATCHES),
        "rows_read": f"{analysis.rows_read:,}",
        "accounts": fmt_number(population.get("accounts"), "count"),
        "clusters_total": len(clusters),
        "clusters": [_cluster(c) for c in clusters[:MAX_CLUSTERS]],
        "clusters_omitted": max(0, len(clusters) - MAX_CLUSTERS),
        "exhibit": analysis.evidence.exhibit,  # type: ignore[union-attr]  # a done analysis has its evidence
        "sha256": analysis.evidence.sha256,  # type: ignore[union-attr]  # as above
    }
