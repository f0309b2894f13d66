"""Every journey together, in the mix of ``LOADTEST_MIX`` (default in common.DEFAULT_MIX).

    locust -f loadtest/locustfile.py --host https://… --api-keys-file keys.txt

``make loadtest`` runs it through loadtest/run.py, which starts the topology, warms it,
pins locust to a core of its own and writes loadtest-report/.
"""

from loadtest.locustfiles.abuse import Flooder, Scanner
from loadtest.locustfiles.api import ApiConsumer, ApiOverLimitConsumer
from loadtest.locustfiles.browsing import Browser
from loadtest.locustfiles.watching import Viewer

__all__ = ["ApiConsumer", "ApiOverLimitConsumer", "Browser", "Flooder", "Scanner", "Viewer"]
