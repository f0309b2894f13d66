"""The OpenAPI schema: generated from the DRF views once per process, and served from memory.

The schema only changes with the code, so a process generates it once (per API version and
language) instead of on every request: generation costs tens of milliseconds or more, and the
schema and the docs page that loads it are not rate limited (settings.RATELIMIT_EXEMPT_PATHS).
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import get_urlconf
from django.utils import translation
from drf_spectacular.views import SpectacularAPIView
from rest_framework.request import Request
from rest_framework.response import Response

_schemas: dict[tuple[Any, ...], dict[str, Any]] = {}
_lock = threading.Lock()


class SchemaView(SpectacularAPIView):
    def _get_schema_response(self, request: Request) -> Response:
        version = self.api_version or request.version or self._get_version_parameter(request)
        key = (get_urlconf() or settings.ROOT_URLCONF, version, translation.get_language())
        schema = _schemas.get(key)
        if schema is None:
            with _lock:  # concurrent first requests wait for one generation
                schema = _schemas.get(key)
                if schema is None:
                    generator = self.generator_class(
                        urlconf=self.urlconf, api_version=version, patterns=self.patterns
                    )
                    schema = generator.get_schema(request=request, public=self.serve_public)
                    _schemas[key] = schema
        filename = self._get_filename(request, version)
        return Response(schema, headers={"Content-Disposition": f'inline; filename="{filename}"'})


@receiver(setting_changed)
def _forget_schemas(**kwargs: Any) -> None:
    """Settings overrides (tests) may change what the schema says: generate it again."""
    with _lock:
        _schemas.clear()
