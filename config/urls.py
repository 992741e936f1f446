from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.urls import api_urlpatterns as accounts_api
from analysis.urls import api_urlpatterns as analysis_api
from dossiers.urls import api_urlpatterns as dossiers_api
from evidence.urls import api_urlpatterns as evidence_api
from incidents.urls import api_urlpatterns as incidents_api

# SHA-256 of the <style> block in drf_spectacular/swagger_ui.html (0.30.0).
SWAGGER_UI_STYLE = "'sha256-MMpT0iDxyjALd9PdfepImGX3DBfJPXZ4IlDWdPAgtn0='"

api_v1 = (
    [*incidents_api, *evidence_api, *dossiers_api, *analysis_api, *accounts_api],
    "api",
)

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        # The split view serves its start-up script as a file, not inline. Its page
        # keeps one small <style> block, allowed by its hash alone (the browser test
        # of the docs fails if an upgrade of drf-spectacular changes it).
        csp_update({"style-src": [SWAGGER_UI_STYLE]})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
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
