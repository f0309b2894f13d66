"""Session authentication that loads the viewer's profile with the user row."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import backends, get_user_model


class ModelBackend(backends.ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        # The rate limiter reads the tier (on the profile) on every API request; joining it
        # here keeps that free instead of one more query per request.
        users = get_user_model()._default_manager.select_related("profile")
        try:
            user = users.get(pk=user_id)
        except get_user_model().DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
