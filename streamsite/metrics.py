"""Every custom Prometheus metric of the project, defined once, named ``streamsite_<thing>``.

Other modules import the metric objects from here; none defines its own.
"""

from __future__ import annotations
