from django.urls import path

from analysis import apis, views

app_name = "analysis"

_cluster = "incidents/<str:reference>/clusters/<int:analysis_id>/<str:cluster_id>/"
urlpatterns = [
    path("incidents/<str:reference>/clusters/", views.clusters_tab, name="clusters"),
    path(_cluster, views.cluster_detail, name="cluster"),
    path(
        f"{_cluster}subjects/",
        views.cluster_subjects_add,
        name="cluster-subjects",
    ),
]

api_urlpatterns = [
    path(
        "incidents/<str:reference>/analyses/",
        apis.AnalysisListApi.as_view(),
        name="incident-analyses",
    ),
    path(
        "analyses/<int:id>/", apis.AnalysisDetailApi.as_view(), name="analysis-detail"
    ),
]
