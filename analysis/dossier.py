"""The "Account linkage analysis" section of a dossier, as plain capped data: the
latest finished analysis of the incident when the snapshot is taken. Registered with
the dossier's sections by AnalysisConfig.ready()."""

import json
from typing import Any

from analysis.models import Analysis
from analysis.presentation import method_text, signal_rows
from analysis.services import TOOL
from config.formats import fmt_exact, fmt_rounded, fmt_stamp, fmt_time
from dossiers.sections import Section
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
        # A parameter is printed as recorded: rounded, it could not be typed back
        # to re-run the analysis or to check the parameters' SHA-256.
        return fmt_exact(value)
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
        "volume": fmt_rounded(cluster.get("volume"), "count"),
        "synchrony": fmt_rounded(cluster.get("synchrony"), "corr"),
        "first_seen": fmt_stamp(cluster.get("first_seen")),
        "last_seen": fmt_stamp(cluster.get("last_seen")),
        "reasons": reasons[:MAX_REASONS],
        "reasons_more": max(0, len(reasons) - MAX_REASONS),
        "shared": [
            {
                "kind": s.get("kind"),
                "value": s.get("value"),
                "accounts": s.get("accounts"),
                "weight": fmt_rounded(s.get("weight")),
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
        "requested_at": fmt_time(analysis.requested_at),
        "finished_at": fmt_time(analysis.finished_at) if analysis.finished_at else "",
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
        "accounts": fmt_rounded(population.get("accounts"), "count"),
        "clusters_total": len(clusters),
        "clusters": [_cluster(c) for c in clusters[:MAX_CLUSTERS]],
        "clusters_omitted": max(0, len(clusters) - MAX_CLUSTERS),
        "exhibit": analysis.evidence.exhibit,  # type: ignore[union-attr]  # a done analysis has its evidence
        "sha256": analysis.evidence.sha256,  # type: ignore[union-attr]  # as above
    }


SECTION = Section(
    key="analysis",
    title="Account linkage analysis",
    label="Account linkage analysis",
    order=60,  # after the query-log summary it reads
    template="dossiers/pdf/_analysis.html",
    build=lambda case: analysis_snapshot(case.incident),
)
