from django.urls import path

from evidence import (
    apis,
    custody_job_apis,
    forensic_apis,
    querylog_apis,
    querylog_views,
    views,
)

app_name = "evidence"

urlpatterns = [
    path("incidents/<str:reference>/evidence/", views.evidence_tab, name="list"),
    path("incidents/<str:reference>/verify/", views.verify_now, name="verify"),
    path(
        "incidents/<str:reference>/custody-bundle/",
        views.custody_bundle_start,
        name="custody-bundle",
    ),
    path("incidents/<str:reference>/legal-hold/", views.legal_hold, name="legal-hold"),
    path("evidence/<int:pk>/", views.evidence_detail, name="detail"),
    path("evidence/<int:pk>/custody/", views.custody_record_form, name="custody"),
    path("evidence/<int:pk>/withdraw/", views.withdraw, name="withdraw"),
    path(
        "incidents/<str:reference>/query-logs/",
        querylog_views.query_logs_tab,
        name="query-logs",
    ),
    path(
        "incidents/<str:reference>/forensic-results/",
        querylog_views.forensic_results_tab,
        name="forensic-results",
    ),
]

_incident = "incidents/<str:reference>/"
api_urlpatterns = [
    path(
        f"{_incident}evidence/",
        apis.EvidenceListApi.as_view(),
        name="incident-evidence",
    ),
    path(f"{_incident}verify/", apis.VerifyApi.as_view(), name="incident-verify"),
    path(
        f"{_incident}legal-hold/",
        apis.LegalHoldApi.as_view(),
        name="incident-legal-hold",
    ),
    path(
        f"{_incident}custody-bundle/",
        apis.CustodyBundleApi.as_view(),
        name="incident-custody-bundle",
    ),
    path(
        "custody-verifications/<int:id>/",
        custody_job_apis.CustodyVerificationDetailApi.as_view(),
        name="custody-verification-detail",
    ),
    path(
        "custody-bundles/<int:id>/",
        custody_job_apis.CustodyBundleDetailApi.as_view(),
        name="custody-bundle-detail",
    ),
    path(
        "custody-bundles/<int:id>/download/",
        custody_job_apis.CustodyBundleDownloadApi.as_view(),
        name="custody-bundle-download",
    ),
    path(
        "evidence/<int:id>/", apis.EvidenceDetailApi.as_view(), name="evidence-detail"
    ),
    path(
        "evidence/<int:id>/download/",
        apis.EvidenceDownloadApi.as_view(),
        name="evidence-download",
    ),
    path(
        "evidence/<int:id>/custody/",
        apis.CustodyListApi.as_view(),
        name="evidence-custody",
    ),
    path(
        "evidence/<int:id>/custody/<int:seq>/",
        apis.CustodyEventDetailApi.as_view(),
        name="custody-event-detail",
    ),
    path(
        "evidence/<int:id>/withdraw/",
        apis.EvidenceWithdrawApi.as_view(),
        name="evidence-withdraw",
    ),
    path(
        f"{_incident}query-logs/",
        querylog_apis.QueryLogListApi.as_view(),
        name="incident-query-logs",
    ),
    path(
        f"{_incident}query-logs/stats/",
        querylog_apis.QueryLogStatsApi.as_view(),
        name="incident-query-log-stats",
    ),
    path(
        "query-log-batches/<int:id>/",
        querylog_apis.QueryLogBatchDetailApi.as_view(),
        name="query-log-batch-detail",
    ),
    path(
        "query-logs/<int:id>/",
        querylog_apis.QueryLogRowDetailApi.as_view(),
        name="query-log-detail",
    ),
    path(
        f"{_incident}forensic-results/",
        forensic_apis.ForensicResultListApi.as_view(),
        name="incident-forensic-results",
    ),
    path(
        "forensic-results/<int:id>/",
        forensic_apis.ForensicResultDetailApi.as_view(),
        name="forensic-result-detail",
    ),
]
