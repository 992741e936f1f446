"""Browser pages for analyses: the incident's Clusters tab (jobs, graph, clusters,
accounts) and one cluster's page. Same selectors and services as the API."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from analysis import presentation, selectors
from analysis.graph import graph_layout
from analysis.models import Analysis
from analysis.services import analysis_cluster, analysis_request, analysis_subjects_add
from api.pages import incident_page, run
from config.errors import DomainError, InvalidInput
from config.formats import fmt_rounded, fmt_stamp
from evidence.services.access import require_content_reader
from incidents.models import Incident, Subject
from incidents.subjects import normalise_subject

ACCOUNTS_PER_PAGE = 50
JOBS_SHOWN = 20
MEMBERS_SHOWN = 500


# Detection tools push logs but never read what is derived from them (as on the
# Query logs tab): for them these pages do not exist.
_reader_page = incident_page(role=require_content_reader)
_reader_form = incident_page(methods=["POST"], role=require_content_reader)


def _done_analysis(request, incident: Incident, analysis_id) -> Analysis | None:
    analysis = selectors.analysis_get_for_user(request.user, analysis_id)
    if (
        analysis is None
        or analysis.incident_id != incident.pk
        or analysis.status != Analysis.Status.DONE
    ):
        return None
    return analysis


def _cluster_url(incident: Incident, analysis: Analysis, cluster_id: str) -> str:
    return reverse(
        "analysis:cluster", args=[incident.reference, analysis.pk, cluster_id]
    )


@_reader_page
def clusters_tab(request: HttpRequest, incident: Incident) -> HttpResponse:
    if request.method == "POST":
        run(
            request,
            lambda: analysis_request(incident=incident, by=request.user),
            "Analysis queued; it runs in the background.",
        )
        return redirect("analysis:clusters", reference=incident.reference)

    jobs = list(selectors.analysis_list_for_user(request.user, incident)[:JOBS_SHOWN])
    shown = None
    wanted = request.GET.get("analysis", "")
    if wanted.isascii() and wanted.isdigit():  # "²".isdigit() is true too
        shown = _done_analysis(request, incident, int(wanted))
        if shown is None:
            messages.warning(request, "That analysis is not finished or not here.")
    shown = shown or selectors.analysis_latest_done(incident)
    context = {
        "incident": incident,
        "jobs": jobs,
        "can_run": request.user.can_edit_cases,
        "has_query_logs": incident.query_log_batches.filter(
            evidence__isnull=False
        ).exists(),
        "shown": shown,
    }
    if shown is not None:
        context.update(_result_context(request, incident, shown))
    return render(request, "analysis/analysis_list.html", context)


def _result_context(request, incident: Incident, analysis: Analysis) -> dict:
    result = analysis.result or {}
    accounts, sort = presentation.accounts_sorted(
        result.get("accounts") or [], request.GET.get("sort", "-volume")
    )
    page = Paginator(accounts, ACCOUNTS_PER_PAGE).get_page(request.GET.get("page"))
    base = {"analysis": analysis.pk} if request.GET.get("analysis") else {}
    return {
        "graph": graph_layout(
            result, link=lambda cid: _cluster_url(incident, analysis, cid)
        ),
        "clusters": presentation.cluster_rows(result),
        "population": result.get("population") or {},
        "accounts_page": page,
        "account_rows": [presentation.account_row(a) for a in page],
        "sort": sort,
        "sort_columns": [
            {"key": "account", "label": "Account"},
            {"key": "cluster", "label": "Cluster"},
            *(
                {"key": key, "label": label, "num": True}
                for key, (label, _) in presentation.SIGNALS.items()
            ),
        ],
        "query": urlencode({**base, "sort": sort}),
        "sort_base": urlencode(base),
    }


@_reader_page
def cluster_detail(
    request: HttpRequest, incident: Incident, analysis_id: int, cluster_id: str
) -> HttpResponse:
    analysis = _done_analysis(request, incident, analysis_id)
    cluster = analysis_cluster(analysis, cluster_id) if analysis else None
    if cluster is None:
        raise Http404
    members = set(cluster.get("accounts") or [])
    accounts = [
        a
        for a in analysis.result.get("accounts") or []
        if a.get("account_id") in members
    ]
    # Subjects are stored normalised; compare in that form. An account id that is no
    # valid subject value can never be added and is not offered.
    subject_value = {}
    for account in members:
        try:
            subject_value[account] = normalise_subject(Subject.Kind.ACCOUNT, account)
        except InvalidInput:
            continue
    stored = set(
        incident.subjects.filter(
            kind=Subject.Kind.ACCOUNT, value__in=list(subject_value.values())
        ).values_list("value", flat=True)
    )
    existing = {a for a, value in subject_value.items() if value in stored}
    return render(
        request,
        "analysis/cluster_detail.html",
        {
            "incident": incident,
            "analysis": analysis,
            "cluster": cluster,
            "size": len(members),
            "signals": presentation.signal_rows(cluster.get("signals") or {}),
            "synchrony": fmt_rounded(cluster.get("synchrony"), "corr"),
            "first_seen": fmt_stamp(cluster.get("first_seen")),
            "last_seen": fmt_stamp(cluster.get("last_seen")),
            "volume": fmt_rounded(cluster.get("volume"), "count"),
            "shared": cluster.get("shared_attributes") or [],
            "member_rows": [
                {
                    **presentation.account_row(a),
                    "is_subject": a["account_id"] in existing,
                }
                for a in accounts[:MEMBERS_SHOWN]
            ],
            "members_more": max(0, len(accounts) - MEMBERS_SHOWN),
            "signal_labels": [label for label, _ in presentation.SIGNALS.values()],
            "already": len(existing),
            "to_add": len(subject_value) - len(existing),
            "can_edit": request.user.can_edit_cases,
            "graph": graph_layout(analysis.result, only=cluster_id, width=460),
        },
    )


@_reader_form
def cluster_subjects_add(
    request: HttpRequest, incident: Incident, analysis_id: int, cluster_id: str
) -> HttpResponse:
    analysis = _done_analysis(request, incident, analysis_id)
    if analysis is None or analysis_cluster(analysis, cluster_id) is None:
        raise Http404
    try:
        counts = analysis_subjects_add(
            analysis=analysis, cluster_id=cluster_id, by=request.user
        )
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        text = f"Added {counts['added']} account{'' if counts['added'] == 1 else 's'} as subjects"
        if counts["existing"]:
            text += f"; {counts['existing']} already were"
        if counts["skipped"]:
            text += f"; {counts['skipped']} skipped (not valid account ids)"
        messages.success(request, text + ".")
    return redirect(_cluster_url(incident, analysis, cluster_id))
