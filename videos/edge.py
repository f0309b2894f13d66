"""Self-hosted video at the CDN's edge: what a change to an asset purges, after commit.

Segments are never purged: a transcode writes them under an asset of its own and they never
change. Playlists, subtitles and the seek-preview track can be rewritten in place (an asset
made ready again, a subtitle added or removed), so their signed URLs still live (one per
expiry bucket) are purged, with the movie's tag: pages and answers that show whether and how
it plays.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from catalog.edge import movie_tag
from cdn import services as cdn
from videos import ladder, signing
from videos.models import Subtitle, VideoAsset


def asset_urls(asset: VideoAsset, *, extra: tuple[str, ...] = ()) -> list[str]:
    """The live signed URLs of the asset's playlists and tracks (no segments)."""
    names = [asset.master_playlist, asset.thumbnails, *extra]
    names += [rendition.playlist for rendition in asset.renditions.all()]
    names += [subtitle.filename for subtitle in asset.subtitles.all()]
    return [url for name in names if name for url in signing.live_urls(asset.pk, name)]


@receiver(post_save, sender=VideoAsset, dispatch_uid="videos-edge-asset-saved")
@receiver(post_delete, sender=VideoAsset, dispatch_uid="videos-edge-asset-deleted")
def _asset_changed(sender: type, instance: VideoAsset, **kwargs: Any) -> None:
    if not cdn.enabled():
        return
    deleted = "created" not in kwargs
    if not deleted and instance.status != VideoAsset.Status.READY:
        return  # nothing of it was ever handed out: it plays only once ready
    if deleted:
        # Its renditions are gone with it: their playlists are found by the ladder's names.
        names = [instance.master_playlist, instance.thumbnails]
        names += [f"{height}p/{ladder.MEDIA_PLAYLIST}" for height in settings.VIDEO_LADDER]
        urls = [u for name in names if name for u in signing.live_urls(instance.pk, name)]
    else:
        urls = asset_urls(instance)
    cdn.purge_on_commit(
        tags=[movie_tag(instance.movie_id)],
        urls=urls,
        reason=f"video {instance.pk} of movie {instance.movie_id} "
        + ("deleted" if deleted else "ready"),
    )


@receiver(post_save, sender=Subtitle, dispatch_uid="videos-edge-subtitle-saved")
@receiver(post_delete, sender=Subtitle, dispatch_uid="videos-edge-subtitle-deleted")
def _subtitle_changed(sender: type, instance: Subtitle, **kwargs: Any) -> None:
    if not cdn.enabled():
        return
    asset = VideoAsset.objects.filter(pk=instance.asset_id).first()
    if asset is None or asset.status != VideoAsset.Status.READY:
        return
    cdn.purge_on_commit(
        tags=[movie_tag(asset.movie_id)],
        urls=asset_urls(asset, extra=(instance.filename,)),
        reason=f"subtitles {instance.language} of video {asset.pk} changed",
    )
