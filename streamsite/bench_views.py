"""The baseline every benchmark compares against: the cheapest possible Django view.

Mounted only when BENCH_ENDPOINTS=true, so production never serves it.
"""

from django.http import HttpRequest, JsonResponse


def bare(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})
