"""The one authentication step on every request: ``request.identity`` (``accounts.identity``).

It sits before the shield, which reads the identity to tell a valid API key's traffic from a
flood, and before Django's ``AuthenticationMiddleware``, whose ``request.user`` the identity
falls back to; nothing is looked up until something asks.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from accounts.identity import Identity


class IdentityMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.identity = Identity(request)  # type: ignore[attr-defined]
        return self.get_response(request)
