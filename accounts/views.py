"""Sign up, sign in and sign out for viewers."""

from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from accounts.forms import SignupForm
from shield.client_ip import client_ip
from shield.detection import record_failed_login


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="accounts.backends.ModelBackend")
        return redirect(next_url or "catalog:home")
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "next": next_url}
    return render(request, "accounts/signup.html", context, status=status)


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        # Password guessing is one of the DDoS signals (shield.detection).
        record_failed_login(client_ip(self.request))
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    pass
