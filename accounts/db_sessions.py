"""Sessions in the database alone, where there is no Redis (the one-process demo).

Django's ``db`` engine on our table (``accounts.models.DeviceSession``), so the account page
lists and ends sessions there too.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db

from accounts.devices import DeviceSessionMixin


class SessionStore(DeviceSessionMixin, db.SessionStore):
    pass
