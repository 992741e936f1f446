"""The Django admin, with its login going through Casebook's sign-in protection.

Django's stock admin login authenticates on its own, so it would step around the
sign-in throttle and the security log. Here it is `accounts.views.ThrottledSignInView`,
the same view as the app's sign-in page, with the admin's form (staff accounts only)
and page. INSTALLED_APPS names `CasebookAdminConfig` in place of django.contrib.admin.
"""

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _


class CasebookAdminSite(AdminSite):
    def login(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        # Imported here: this module is loaded with INSTALLED_APPS, before models.
        from django.contrib.admin.forms import AdminAuthenticationForm

        from accounts.views import ThrottledSignInView

        # What AdminSite.login does, with the throttled view in place of LoginView.
        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        context = {
            **self.each_context(request),
            "title": _("Log in"),
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": request.user.get_username(),
        }
        if (
            REDIRECT_FIELD_NAME not in request.GET
            and REDIRECT_FIELD_NAME not in request.POST
        ):
            context[REDIRECT_FIELD_NAME] = reverse("admin:index", current_app=self.name)
        context.update(extra_context or {})
        request.current_app = self.name
        return ThrottledSignInView.as_view(  # type: ignore[return-value]  # the view answers an HttpResponse
            extra_context=context,
            authentication_form=self.login_form or AdminAuthenticationForm,
            template_name=self.login_template or "admin/login.html",
        )(request)


class CasebookAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.CasebookAdminSite"
