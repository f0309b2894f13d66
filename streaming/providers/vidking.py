"""VidKing, the default primary provider: ``https://www.vidking.net/embed/movie/{tmdb_id}``.

Its documented parameters: ``progress`` (start position in whole seconds), ``color`` (accent
colour as hex without ``#``) and ``autoPlay``. The row in the admin holds them like any other
provider's; this adapter adds what the player needs whatever an editor wrote there. VidKing has
no search API, so ``search`` goes through TMDb (inherited).

The player reports playback by ``postMessage`` from its own origin:
``{"type": "PLAYER_EVENT", "data": {"event", "currentTime", "duration", "progress"}}``, sometimes
as a JSON string; ``Source.origin`` is what the page checks messages against.
"""

from __future__ import annotations

from streaming.providers.template import TemplateEmbed

DEFAULT_PARAMS = {"autoPlay": "true"}
# Its first PLAYER_EVENT is the proof that the player plays (the browser fires the iframe's
# `load` for its own error page too, so a load proves nothing).
READY_MESSAGE = "PLAYER_EVENT"


class VidKing(TemplateEmbed):
    def default_params(self) -> dict[str, str]:
        # Pressing Play on our page is the viewer's click; without autoPlay they would have
        # to press the player's own button a second time.
        return {**DEFAULT_PARAMS, **super().default_params()}

    def ready_message(self) -> str:
        return super().ready_message() or READY_MESSAGE
