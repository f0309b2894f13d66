"""A password hasher for the test suite: Django's PBKDF2 at one iteration.

The real hasher is slow by design (about a million iterations), and most tests create a user or
sign one in. A hash made here is an ordinary ``pbkdf2_sha256$1$…`` hash, so servers a test
starts in another process, on the production hashers, still verify it.
"""

from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class OneIterationPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 1
