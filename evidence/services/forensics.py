"""Forensic results: validated against their own statistics, kept as evidence."""

import math
from typing import Any

from django.db import transaction

from accounts.models import User
from config.canonical import canonical_json
from config.errors import InvalidInput, NotAllowed
from evidence.models import CustodyEvent, Evidence, ForensicResult
from evidence.services.custody import custody_batch, custody_received_hashes
from evidence.services.items import evidence_add
from evidence.uploads import hashed_upload
from incidents.history import history_record
from incidents.models import Incident

Z_SCORE_NAMES = {"z", "z_score", "z-score", "zscore"}
P_VALUE_TOLERANCE = 0.01  # relative: the contract's "more than 1%"


def one_sided_normal_p(z: float) -> float:
    """P(Z >= z) for a standard normal Z, accurate far into the tail."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def _check_statistics(
    *,
    statistic_name: str,
    statistic_value: float,
    p_value: float,
    alpha: float,
    verdict: str,
) -> None:
    for name, value in (
        ("statistic.value", statistic_value),
        ("p_value", p_value),
        ("alpha", alpha),
    ):
        if not math.isfinite(value):
            raise InvalidInput.for_field(name, "must be a finite number")
    if not 0 <= p_value <= 1:
        raise InvalidInput.for_field("p_value", f"{p_value} is outside [0, 1]")
    if not 0 < alpha < 1:
        raise InvalidInput.for_field("alpha", f"{alpha} is outside (0, 1)")
    if verdict == ForensicResult.Verdict.SUPPORTS and p_value > alpha:
        raise InvalidInput.for_field(
            "verdict",
            f"'supports' needs p_value <= alpha; p = {p_value} > alpha = {alpha}",
        )
    if statistic_name.strip().lower() in Z_SCORE_NAMES:
        expected = one_sided_normal_p(statistic_value)
        if abs(p_value - expected) > P_VALUE_TOLERANCE * max(expected, p_value):
            raise InvalidInput.for_field(
                "p_value",
                f"a z-score of {statistic_value} gives a one-sided p-value of {expected:.6g}, "
                f"not {p_value} (more than 1% apart)",
            )


def forensic_result_record(
    *,
    incident: Incident,
    by: User,
    method: dict[str, Any],
    suspect_model: str,
    parameters: dict[str, Any],
    statistic: dict[str, Any],
    p_value: float,
    alpha: float,
    verdict: str,
    summary: str,
    limitations: list[str] | None = None,
    artefacts: list[int] | None = None,
) -> ForensicResult:
    """Record a result after checking its statistics and artefacts.

    The submission (with each artefact's exhibit and hash) is kept as a
    `forensic_result` evidence item with a `received` event, and every artefact gets
    an `analysed` event naming the method and version.
    """
    if not by.can_submit_evidence:
        raise NotAllowed(f"Your role ({by.role}) cannot record forensic results.")
    _check_statistics(
        statistic_name=statistic["name"],
        statistic_value=statistic["value"],
        p_value=p_value,
        alpha=alpha,
        verdict=verdict,
    )
    try:
        encoded = canonical_json(
            {"parameters": parameters, "method": method}, allow_nan=True
        ).decode()
    except UnicodeEncodeError:
        raise InvalidInput.for_field("parameters", "contains invalid Unicode") from None
    if "\\u0000" in encoded:
        raise InvalidInput.for_field("parameters", "contains a NUL character (\\u0000)")
    artefact_ids = list(dict.fromkeys(artefacts or []))
    # Only items the caller may see count as this incident's evidence.
    from evidence.selectors import evidence_visible_to

    items = {
        item.pk: item
        for item in evidence_visible_to(by).filter(
            incident=incident, pk__in=artefact_ids
        )
    }
    for index, artefact_id in enumerate(artefact_ids):
        if artefact_id not in items:
            raise InvalidInput.for_field(
                f"artefacts[{index}]",
                f"{artefact_id} is not evidence of {incident.reference}",
            )
    submission = {
        "incident": incident.reference,
        "method": method,
        "suspect_model": suspect_model,
        "parameters": parameters,
        "statistic": statistic,
        "p_value": p_value,
        "alpha": alpha,
        "verdict": verdict,
        "summary": summary,
        "limitations": limitations or [],
        "artefacts": [
            {"id": pk, "exhibit": items[pk].exhibit, "sha256": items[pk].sha256}
            for pk in artefact_ids
        ],
        "submitted_by": by.username,
    }
    content = canonical_json(submission, allow_nan=True)
    label = f"{method['name']} {method['version']}"
    with transaction.atomic():
        item = evidence_add(
            incident=incident,
            by=by,
            upload=hashed_upload(content, "forensic-result.json"),
            title=f"Forensic result: {label} on {suspect_model}",
            description=summary,
            source=method["family"],
            kind=Evidence.Kind.FORENSIC_RESULT,
            media_type="application/json",
        )
        result = ForensicResult.objects.create(
            incident=incident,
            evidence=item,
            method_family=method["family"],
            method_name=method["name"],
            method_version=method["version"],
            suspect_model=suspect_model,
            parameters=parameters,
            statistic_name=statistic["name"],
            statistic_value=statistic["value"],
            p_value=p_value,
            alpha=alpha,
            verdict=verdict,
            summary=summary,
            limitations=limitations or [],
            submitted_by=by,
        )
        result.artefacts.set(items.values())
        # The hashes received, never the editable rows' (see custody.py).
        received = custody_received_hashes(artefact_ids)
        with custody_batch() as ledger:
            for pk in artefact_ids:
                ledger.append(
                    evidence=items[pk],
                    action=CustodyEvent.Action.ANALYSED,
                    by=by,
                    purpose=f"Forensic analysis: {label}",
                    sha256_observed=received[pk],
                    details={
                        "tool": method["name"],
                        "tool_version": method["version"],
                        "forensic_result": result.pk,
                    },
                )
        history_record(
            incident=incident,
            actor=by,
            action="forensic_result.recorded",
            summary=f"Forensic result {label}: {verdict} (p = {p_value:.3g}, alpha = {alpha})",
            after={"result": result.pk, "exhibit": item.exhibit, "verdict": verdict},
        )
    return result
