"""Adapters from a provider row (or our own uploads) to player sources; see ``base``."""

from __future__ import annotations

from streaming.models import Provider
from streaming.providers.selfhosted import SelfHostedHLS
from streaming.providers.template import TemplateEmbed
from streaming.providers.vidking import VidKing

ADAPTERS: dict[str, type[TemplateEmbed]] = {
    Provider.Kind.VIDKING: VidKing,
    Provider.Kind.EMBED: TemplateEmbed,
}


def adapter_for(provider: Provider) -> TemplateEmbed:
    return ADAPTERS[provider.kind](provider)


def self_hosted() -> SelfHostedHLS:
    return SelfHostedHLS()
