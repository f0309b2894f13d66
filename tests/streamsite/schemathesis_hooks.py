"""Loaded by the schemathesis CLI in the fuzz test (SCHEMATHESIS_HOOKS): one `ast.parse` at a time.

Hypothesis parses the source of lambdas with ``ast.parse`` to describe strategies, and the CLI's
workers are threads. CPython 3.11 builds Python objects from a parsed tree with a counter shared
by every thread (``AST constructor recursion depth``), so two threads parsing at once can make
one of them fail with ``SystemError: AST constructor recursion depth mismatch``: a run error
that has nothing to do with the API. A lock around the parse keeps both workers.
"""

import ast
import threading

_lock = threading.Lock()
_parse = ast.parse


def _parse_alone(*args, **kwargs):  # type: ignore[no-untyped-def]
    with _lock:
        return _parse(*args, **kwargs)


ast.parse = _parse_alone
