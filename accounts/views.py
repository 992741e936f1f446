from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.client_address import client_address
from accounts.forms import TokenForm, UserCreateForm
from accounts.models import SecurityEvent
from config.errors import DomainError


class ThrottledSignInView(LoginView):
    """Every password sign-in goes through here: throttled, and logged either way.

    The app's sign-in page and the Django admin's login (accounts.admin_site) are
    both this view, with their own form and template.
    """

    def posted_username(self) -> str:
        # Read the username as the form does (stripped, NFKC-normalised): " alice"
        # and a full-width "ａｌｉｃｅ" sign in as alice, so their failures count
        # against alice and cannot be used to step around the throttle.
        field = self.get_form_class().base_fields["username"]
        # NUL cannot be stored in PostgreSQL text; no username contains one anyway.
        posted = self.request.POST.get("username", "").replace("\x00", "")
        return field.to_python(posted)[:150]  # type: ignore[index]  # CharField.to_python returns a str

    def post(self, request, *args, **kwargs):
        username = self.posted_username()
        ip = client_address(request)
        if not services.sign_in_attempt_reserve(username=username, ip_address=ip):
            services.sign_in_record(
                kind=SecurityEvent.Kind.SIGN_IN_THROTTLED,
                username=username,
                ip_address=ip,
            )
            form = self.get_form()
            form.errors.clear()
            form.add_error(
                None,
                "Too many failed sign-ins. Wait a few minutes before trying again.",
            )
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            response["Retry-After"] = "60"
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        user = form.get_user()
        ip = client_address(self.request)
        services.sign_in_attempt_succeeded(
            username=self.posted_username(), ip_address=ip
        )
        services.sign_in_record(
            kind=SecurityEvent.Kind.SIGNED_IN,
            username=user.username,
            ip_address=ip,
            user=user,
        )
        return super().form_valid(form)

    def form_invalid(self, form):
        # The attempt reserved in post() stays counted: it failed.
        services.sign_in_record(
            kind=SecurityEvent.Kind.SIGN_IN_FAILED,
            username=self.posted_username(),
            ip_address=client_address(self.request),
        )
        return super().form_invalid(form)


class SignInView(ThrottledSignInView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        services.sign_in_record(
            kind=SecurityEvent.Kind.SIGNED_OUT,
            username=request.user.username,
            ip_address=client_address(request),
            user=request.user,
        )
    logout(request)
    return redirect("accounts:login")


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/profile.html",
        {
            "tokens": selectors.api_token_list_for_user(request.user),
            "form": TokenForm(),
            "new_secret": request.session.pop("new_token_secret", None),
        },
    )


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            token, secret = services.api_token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                days=form.cleaned_data["days"],
            )
        except DomainError as error:
            messages.error(request, error.detail)
        else:
            # Shown once on the next page, then gone: it is not stored anywhere.
            request.session["new_token_secret"] = {"name": token.name, "secret": secret}
            return redirect("accounts:profile")
    else:
        messages.error(request, "The token was not created: " + form.errors.as_text())
    return redirect("accounts:profile")


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = selectors.api_token_get_for_user(request.user, pk)
    if token is None:
        raise Http404
    services.api_token_revoke(token=token, by=request.user)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("accounts:profile")


@login_required
def user_list(request: HttpRequest) -> HttpResponse:
    if not request.user.is_admin:
        raise Http404
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_create(by=request.user, **form.cleaned_data)
        except DomainError as error:
            form.add_error(
                error.errors[0]["field"] if error.errors else None, error.detail
            )
        else:
            messages.success(request, f"User {user.username} ({user.role}) created.")
            return redirect("accounts:users")
    return render(
        request,
        "accounts/user_list.html",
        {
            "users": selectors.user_list_for_admin(),
            "events": selectors.security_event_list()[:50],
            "form": form,
        },
    )
