from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class StreamingConfig(AppConfig):
    name = "streaming"
    verbose_name = "Streaming"

    def ready(self) -> None:
        from catalog.models import Movie
        from progress import qoe
        from streaming import signals, sources
        from streaming.models import Provider
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
