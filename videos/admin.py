"""Editors upload a movie's video on the movie's own admin page and follow its transcode live.

The upload is probed while the form is checked: a file with no video stream is refused on the
field, with ffmpeg's reason, and nothing is kept. A kept one is transcoded after the commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils.html import format_html

from catalog.admin import MovieAdmin
from videos import services, subtitles
from videos.models import Rendition, Subtitle, VideoAsset

Status = VideoAsset.Status
IN_PROGRESS = (Status.UPLOADED, Status.PROBING, Status.TRANSCODING)


class UploadForm(forms.ModelForm):
    class Meta:
        model = VideoAsset
        fields = ("source",)

    def clean_source(self) -> Any:
        upload = self.cleaned_data["source"]
        if upload.size > settings.VIDEO_UPLOAD_MAX_BYTES:
            limit = filesizeformat(settings.VIDEO_UPLOAD_MAX_BYTES)
            raise forms.ValidationError(f"The file is larger than the {limit} allowed.")
        try:
            self.probe = services.probe_upload(upload)
        except services.VideoRejected as exc:
            raise forms.ValidationError(f"{upload.name} was refused: {exc}") from None
        return upload


class UploadFormSet(forms.BaseInlineFormSet):
    def save_new(self, form: UploadForm, commit: bool = True) -> VideoAsset:
        # Through the service, so the transcode is queued once the movie's save commits.
        return services.add_video(
            movie=self.instance, source=form.cleaned_data["source"], probe=form.probe
        )


def progress_html(asset: VideoAsset) -> str:
    """Status and percent; assets still at work are refreshed live by video_admin.js."""
    live = asset.status in IN_PROGRESS and asset.pk
    url = reverse("admin:videos_videoasset_progress", args=[asset.pk]) if live else ""
    return format_html(
        '<span class="video-progress" data-progress-url="{}">'
        '<progress max="100" value="{}"></progress> <span data-status>{}</span></span>',
        url,
        asset.percent,
        f"{asset.get_status_display()}, {asset.percent}%" if live else asset.get_status_display(),
    )


def source_name(asset: VideoAsset) -> str:
    """The uploaded file's name and size (sources are private: there is nothing to link to)."""
    try:
        size = filesizeformat(asset.source.size)
    except OSError:
        size = "missing"
    return f"{Path(asset.source.name).name} ({size})"


class VideoAssetInline(admin.TabularInline):
    """On the movie's page: its uploads and how far each has got."""

    model = VideoAsset
    extra = 0
    fields = ("file", "progress", "ladder", "created_at")
    readonly_fields = fields
    show_change_link = True
    verbose_name = "video"
    verbose_name_plural = "Videos (adaptive HLS; the newest ready one plays)"

    class Media:
        js = ("videos/js/video_admin.js",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # VideoUploadInline adds them

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # an upload is replaced by another, not edited

    @admin.display(description="File")
    def file(self, asset: VideoAsset) -> str:
        return source_name(asset)

    @admin.display(description="Progress")
    def progress(self, asset: VideoAsset) -> str:
        return progress_html(asset)

    @admin.display(description="Ladder")
    def ladder(self, asset: VideoAsset) -> str:
        return ", ".join(f"{r.height}p" for r in asset.renditions.all()) or "—"


class VideoUploadInline(admin.TabularInline):
    """On the movie's page: a field to upload a new video, probed before anything is kept."""

    model = VideoAsset
    form = UploadForm
    formset = UploadFormSet
    extra = 1
    fields = ("source",)
    verbose_name = "new video"
    verbose_name_plural = "Upload a video (transcoded once saved; the current one plays until then)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[VideoAsset]:
        return super().get_queryset(request).none()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# catalog's MovieAdmin knows nothing of videos; videos adds its inline to it.
MovieAdmin.inlines = (*MovieAdmin.inlines, VideoAssetInline, VideoUploadInline)


class RenditionInline(admin.TabularInline):
    model = Rendition
    extra = 0
    can_delete = False
    fields = ("height", "width", "bandwidth", "average_bandwidth", "codecs", "playlist")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SubtitleForm(forms.ModelForm):
    file = forms.FileField(help_text=".srt or .vtt, UTF-8; converted to WebVTT")

    class Meta:
        model = Subtitle
        fields = ("language", "label")

    def clean_language(self) -> str:
        language = self.cleaned_data["language"].strip()
        if not subtitles.LANGUAGE.fullmatch(language):
            raise forms.ValidationError("Give a language code such as en, fr or pt-BR.")
        return language

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > subtitles.MAX_BYTES:
            raise forms.ValidationError(f"{upload.name} is too large for a subtitle file.")
        try:
            self.vtt = subtitles.to_webvtt(upload.read(), filename=upload.name)
        except subtitles.SubtitleError as exc:
            raise forms.ValidationError(f"{upload.name}: {exc}") from None
        return upload


class SubtitleFormSet(forms.BaseInlineFormSet):
    def save_new(self, form: SubtitleForm, commit: bool = True) -> Subtitle:
        data = form.cleaned_data
        return subtitles.save_subtitle(
            asset=self.instance, language=data["language"], label=data["label"], vtt=form.vtt
        )

    def delete_existing(self, obj: Subtitle, commit: bool = True) -> None:
        (obj.asset.directory / obj.filename).unlink(missing_ok=True)
        super().delete_existing(obj, commit=commit)


class SubtitleInline(admin.TabularInline):
    """Subtitle tracks the player offers, one per language (delete a track to replace it)."""

    model = Subtitle
    form = SubtitleForm
    formset = SubtitleFormSet
    extra = 1
    fields = ("language", "label", "file")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(VideoAsset)
class VideoAssetAdmin(admin.ModelAdmin):
    list_display = ("movie", "progress", "height", "duration_display", "created_at", "ready_at")
    list_filter = ("status",)
    list_select_related = ("movie",)
    search_fields = ("movie__title", "=movie__tmdb_id")
    actions = ("transcode_again",)
    inlines = (RenditionInline, SubtitleInline)
    change_form_template = "admin/videos/videoasset/change_form.html"
    fields = (
        "movie",
        "file",
        "progress",
        "error",
        ("width", "height", "frame_rate"),
        ("duration", "video_codec", "audio_codec"),
        "master_playlist",
        ("created_at", "ready_at"),
    )
    readonly_fields = (
        "movie",
        "file",
        "progress",
        "error",
        "width",
        "height",
        "frame_rate",
        "duration",
        "video_codec",
        "audio_codec",
        "master_playlist",
        "created_at",
        "ready_at",
    )

    class Media:
        js = ("videos/js/video_admin.js",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # uploads start on the movie's page

    @admin.display(description="File")
    def file(self, asset: VideoAsset) -> str:
        return source_name(asset)

    @admin.display(description="Progress", ordering="status")
    def progress(self, asset: VideoAsset) -> str:
        return progress_html(asset)

    @admin.display(description="Length", ordering="duration")
    def duration_display(self, asset: VideoAsset) -> str:
        if asset.duration is None:
            return "—"
        minutes, seconds = divmod(round(asset.duration), 60)
        return f"{minutes}:{seconds:02d}"

    @admin.action(description="Transcode again (failed videos)")
    def transcode_again(self, request: HttpRequest, queryset: QuerySet[VideoAsset]) -> None:
        queued = sum(services.transcode_again(asset=asset) for asset in queryset)
        skipped = queryset.count() - queued
        self.message_user(request, f"{queued} video(s) queued to transcode again.")
        if skipped:
            self.message_user(
                request, f"{skipped} skipped: only failed videos are redone.", messages.WARNING
            )

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:asset_id>/progress/",
                view(self.progress_view),
                name="videos_videoasset_progress",
            ),
            path(
                "<int:asset_id>/transcode-again/",
                view(self.transcode_again_view),
                name="videos_videoasset_transcode_again",
            ),
            *super().get_urls(),
        ]

    def progress_view(self, request: HttpRequest, asset_id: int) -> JsonResponse:
        if not self.has_view_permission(request):
            return JsonResponse({"error": "forbidden"}, status=403)
        asset = get_object_or_404(VideoAsset, pk=asset_id)
        return JsonResponse(
            {
                "status": asset.status,
                "label": asset.get_status_display(),
                "percent": asset.percent,
                "error": asset.error,
                "done": asset.status not in IN_PROGRESS,
            }
        )

    def transcode_again_view(self, request: HttpRequest, asset_id: int) -> Any:
        asset = get_object_or_404(VideoAsset, pk=asset_id)
        if request.method != "POST" or not self.has_change_permission(request, asset):
            return redirect("admin:videos_videoasset_change", asset_id)
        if services.transcode_again(asset=asset):
            self.message_user(request, "Queued to transcode again.")
        else:
            self.message_user(request, "Only a failed video is transcoded again.", messages.ERROR)
        return redirect("admin:videos_videoasset_change", asset_id)
