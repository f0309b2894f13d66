from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class StreamingConfig(AppConfig):
    name = "streaming"
    verbose_name = "Streaming"

    def ready(self) -> None:
        from catalog.models import Movie
        from progress import qoe
        from shield import csp
        from streaming import signals, sources
        from streaming.models import Provider
        from streamsite import health
        from videos.models import Subtitle, VideoAsset

        post_save.connect(signals.provider_changed, sender=Provider, weak=False)
        post_delete.connect(signals.provider_changed, sender=Provider, weak=False)
        post_save.connect(signals.movie_changed, sender=Movie, weak=False)
        post_delete.connect(signals.movie_changed, sender=Movie, weak=False)
        for model in (VideoAsset, Subtitle):
            post_save.connect(signals.video_changed, sender=model, weak=False)
            post_delete.connect(signals.video_changed, sender=model, weak=False)
        # Which sources a QoE report may name in the metrics' labels (progress sits below).
        qoe.register_source_names(sources.source_names)
        # The watch page may frame the enabled providers (the shield's CSP, which sits below);
        # signals only invalidate caches: the policy is rebuilt on the next player page.
        csp.register_frame_origins(_provider_origins)
        post_save.connect(csp.forget_frame_origins, sender=Provider, weak=False)
        post_delete.connect(csp.forget_frame_origins, sender=Provider, weak=False)
        # The health report's circuits check lists the enabled providers' breakers.
        health.register_breakers(_provider_breakers)


def _provider_origins() -> list[str]:
    from streaming.models import Provider

    return [provider.origin for provider in Provider.objects.enabled().only("base_url")]


def _provider_breakers() -> list[str]:
    from streaming.models import Provider

    return [provider.breaker_name for provider in Provider.objects.enabled().only("slug")]
