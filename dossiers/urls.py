from django.urls import path

from dossiers import apis, views

app_name = "dossiers"

urlpatterns = [
    path("incidents/<str:reference>/dossiers/", views.dossier_tab, name="list"),
]

api_urlpatterns = [
    path(
        "incidents/<str:reference>/dossiers/",
        apis.DossierListApi.as_view(),
        name="incident-dossiers",
    ),
    path("dossiers/<int:id>/", apis.DossierDetailApi.as_view(), name="dossier-detail"),
    path("dossiers/<int:id>/pdf/", apis.DossierPdfApi.as_view(), name="dossier-pdf"),
]
