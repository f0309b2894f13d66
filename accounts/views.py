"""Sign up, sign in and sign out for viewers; their account page; password reset by e-mail."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts import devices, history
from accounts.forms import ConfirmForm, EmailForm, SignupForm
from shield.client_ip import client_ip
from shield.decorators import LOGIN, SIGNUP, rate_limit
from shield.detection import record_failed_login


@rate_limit(SIGNUP)
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="accounts.backends.ModelBackend")
        devices.remember_device(request)
        return redirect(next_url or "catalog:home")
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "next": next_url}
    return render(request, "accounts/signup.html", context, status=status)


@rate_limit(LOGIN)
class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        devices.remember_device(self.request)
        return response

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        # Password guessing is one of the DDoS signals (shield.detection).
        record_failed_login(client_ip(self.request))
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    pass


# --- The account page -----------------------------------------------------------------------


def _account(request: HttpRequest, status: int = 200, **forms: Any) -> HttpResponse:
    user = request.user
    current = request.session.session_key
    sessions = [
        {
            "id": devices.device_id(row.session_key),
            "name": devices.describe(row.user_agent),
            "ip": row.ip,
            "since": row.signed_in_at,
            "current": row.session_key == current,
        }
        for row in devices.devices(user_id=user.pk)
    ]
    context = {
        "password_form": forms.get("password_form") or PasswordChangeForm(user),
        "email_form": forms.get("email_form") or EmailForm(instance=user),
        "history_form": forms.get("history_form") or ConfirmForm(),
        "can_erase_history": history.can_erase(),
        "sessions": sessions,
        "other_sessions": sum(not s["current"] for s in sessions),
    }
    response = render(request, "accounts/account.html", context, status=status)
    response["Cache-Control"] = "private, no-store"
    return response


@require_safe
@never_cache
@login_required
def account(request: HttpRequest) -> HttpResponse:
    return _account(request)


@require_POST
@login_required
def change_password(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.user, request.POST)
    if not form.is_valid():
        return _account(request, status=400, password_form=form)
    user = form.save()
    # This browser stays signed in; every other one is signed out (their sessions go too).
    update_session_auth_hash(request, user)
    others = devices.sign_out_everywhere(user_id=user.pk, keep=request.session.session_key)
    note = f" and {others} other device{'s' if others != 1 else ''} signed out" if others else ""
    messages.success(request, f"Your password was changed{note}.")
    return redirect("accounts:account")


@require_POST
@login_required
def change_email(request: HttpRequest) -> HttpResponse:
    form = EmailForm(request.POST, instance=request.user)
    if not form.is_valid():
        return _account(request, status=400, email_form=form)
    form.save()
    messages.success(request, "Your e-mail address was saved.")
    return redirect("accounts:account")


@require_POST
@login_required
def sign_out_device(request: HttpRequest) -> HttpResponse:
    device = request.POST.get("device", "")
    if device == devices.device_id(request.session.session_key or ""):
        logout(request)  # this very browser: the ordinary sign-out
        return redirect("catalog:home")
    if devices.sign_out_device(user_id=request.user.pk, device=device):
        messages.success(request, "That device is signed out.")
    else:
        messages.info(request, "That device was already signed out.")
    return redirect("accounts:account")


@require_POST
@login_required
def sign_out_everywhere(request: HttpRequest) -> HttpResponse:
    user_id = request.user.pk
    logout(request)
    devices.sign_out_everywhere(user_id=user_id)
    messages.success(request, "You are signed out on every device, this one included.")
    return redirect("accounts:login")


@require_POST
@login_required
def delete_history(request: HttpRequest) -> HttpResponse:
    form = ConfirmForm(request.POST)
    if not form.is_valid():
        return _account(request, status=400, history_form=form)
    history.erase_viewing_history(user_id=request.user.pk)
    messages.success(request, "Your viewing history is deleted, on every device.")
    return redirect("accounts:account")


# --- Password reset -------------------------------------------------------------------------


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")
    # Every session of the account ends: whoever knew the old password is out.
    post_reset_login = False

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        devices.sign_out_everywhere(user_id=form.user.pk)
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"
