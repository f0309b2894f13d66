"""The provider ``CDN_PROVIDER`` names, behind the interface of ``cdn.providers.base``."""

from __future__ import annotations

from django.conf import settings

from cdn.providers.base import Answer, Budget, Provider


def current() -> Provider | None:
    """The configured provider; None when there is nobody to purge (``CDN_PROVIDER=none``)."""
    if settings.CDN_PROVIDER == "cloudflare":
        from cdn.providers.cloudflare import Cloudflare

        return Cloudflare()
    if settings.CDN_PROVIDER == "nginx":
        from cdn.providers.nginx import NginxEdge

        return NginxEdge()
    return None


__all__ = ["Answer", "Budget", "Provider", "current"]
