from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.urls import api_urlpatterns as accounts_api
from analysis.urls import api_urlpatterns as analysis_api
from dossiers.urls import api_urlpatterns as dossiers_api
from evidence.urls import api_urlpatterns as evidence_api
from incidents.urls import api_urlpatterns as incidents_api

api_v1 = (
    [*incidents_api, *evidence_api, *dossiers_api, *analysis_api, *accounts_api],
    "api",
)

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema"),
        name="api-docs",
    ),
    path("django-admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("", include("evidence.urls")),
    path("", include("dossiers.urls")),
    path("", include("analysis.urls")),
    path("", include("incidents.urls")),
]

handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
