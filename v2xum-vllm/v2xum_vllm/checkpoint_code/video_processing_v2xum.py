# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Video processor for V2Xum: PyAV decoding with real timestamps, uniform sampling, CLIP preprocessing."""

import os
from dataclasses import dataclass

import numpy as np
import torch
from transformers import BatchFeature
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, PILImageResampling
from transformers.processing_utils import Unpack, VideosKwargs
from transformers.video_processing_utils import BaseVideoProcessor
from transformers.video_utils import VideoMetadata, make_batched_videos

from .timeline import sample_frame_indices, uniform_frame_indices, window_spans
from .video_decoding import DecodedVideo, EmptyWindowError, VideoReader, decode_video, video_source


class V2XumVideosKwargs(VideosKwargs, total=False):
    """`decode_mode`: `"exact"` frames (default) or the nearest `"keyframes"` (fast, approximate). `decode_threads`:
    threads per video decode (default: the cores this process may use)."""

    decode_mode: str
    decode_threads: int


@dataclass
class V2XumVideoMetadata(VideoMetadata):
    """`VideoMetadata` plus the real presentation time of each sampled frame (variable frame rate safe) and what the
    decoder had to warn about (a truncated file, repaired timestamps)."""

    frame_timestamps: list[float] | None = None
    warnings: list[str] | None = None

    @property
    def timestamps(self) -> list[float]:
        if self.frame_timestamps is not None:
            return list(self.frame_timestamps)
        return super().timestamps

    @classmethod
    def from_decoded(cls, video: DecodedVideo) -> "V2XumVideoMetadata":
        return cls(
            total_num_frames=video.total_num_frames,
            fps=video.fps,
            width=video.width,
            height=video.height,
            duration=video.duration,
            video_backend="pyav",
            frames_indices=list(video.frame_indices),
            frame_timestamps=list(video.timestamps),
            warnings=list(video.warnings),
        )


def pad_videos(videos: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacks videos of different lengths (`(frames, ...)` each), zero-padded at the end, with the `(videos, frames)`
    mask that marks real frames: the layout of `pixel_values_videos` and cached tower features alike."""
    lengths = torch.tensor([len(video) for video in videos])
    padded = videos[0].new_zeros((len(videos), int(lengths.max()), *videos[0].shape[1:]))
    for i, video in enumerate(videos):
        padded[i, : len(video)] = video
    return padded, torch.arange(padded.shape[1])[None, :] < lengths[:, None]


def _is_video_source(item) -> bool:
    """A video this processor decodes or samples itself: a path, a `DecodedVideo`, or a dict of its fields."""
    return isinstance(item, (str, os.PathLike, DecodedVideo, dict))


def flatten_videos(videos) -> list:
    """One list of videos: chat templates pass one list per conversation."""
    if not isinstance(videos, (list, tuple)):
        return [videos]
    return [leaf for item in videos for leaf in (item if isinstance(item, (list, tuple)) else [item])]


class V2XumVideoProcessor(BaseVideoProcessor):
    r"""
    Turns videos into `pixel_values_videos` for V2Xum.

    Every video comes in through `fetch_videos`, whatever its form: a path is decoded with PyAV
    (`processing.video_decoding.decode_video`): `num_frames` exact frames spread uniformly over the whole video,
    with their real timestamps; a `DecodedVideo` (or a dict with `frames` and `timestamps` or `fps`, see
    `DecodedVideo.from_frames`) is sampled by the same rule. Plain `(T, H, W, 3)` arrays or tensors without
    timing take the base class's path (pass `video_metadata` for seconds). Frames are resized (shortest edge),
    center-cropped and normalized as CLIP expects.

    Batches of videos of different lengths are padded at the end; `video_frame_mask` marks the real frames.
    """

    resample = PILImageResampling.BICUBIC
    image_mean = OPENAI_CLIP_MEAN
    image_std = OPENAI_CLIP_STD
    size = {"shortest_edge": 224}
    crop_size = {"height": 224, "width": 224}
    default_to_square = False
    do_resize = True
    do_center_crop = True
    do_rescale = True
    do_normalize = True
    do_convert_rgb = True
    do_sample_frames = True
    # The one default frame count of the package: everything that samples frames asks the video processor.
    num_frames = 100
    decode_mode = "exact"
    decode_threads = None
    return_metadata = True
    valid_kwargs = V2XumVideosKwargs
    model_input_names = ["pixel_values_videos", "video_frame_mask"]

    def __init__(self, **kwargs: Unpack[V2XumVideosKwargs]):
        super().__init__(**kwargs)

    def sample_frames(self, metadata: VideoMetadata, num_frames: int | None = None, fps=None, **kwargs) -> np.ndarray:
        """`sample_frame_indices` for frames given as arrays: `num_frames` uniformly (first and last included, the
        released rule), or with `fps` one frame per `1 / fps` seconds at most `num_frames`."""
        num_frames = num_frames or self.num_frames
        if fps is None:
            return np.array(uniform_frame_indices(metadata.total_num_frames, num_frames))
        if not metadata.fps:
            raise ValueError("Sampling by fps needs the video's frame rate: pass video_metadata with fps")
        timestamps = np.arange(metadata.total_num_frames) / metadata.fps
        return np.array(sample_frame_indices(timestamps, num_frames=num_frames, fps=fps))

    def preprocess(self, videos, **kwargs):
        """Paths, URLs, `DecodedVideo`s and frame dicts are fetched here (`fetch_videos`, with this call's sampling
        and size options), then preprocessed as decoded frames; plain arrays take the base class's way."""
        items = flatten_videos(videos)
        if items and all(_is_video_source(item) for item in items):
            options = ("num_frames", "fps", "decode_mode", "decode_threads", "size", "do_resize")
            options = {key: kwargs.get(key) for key in options}
            videos, metadata = self.fetch_videos(items, **options)
            kwargs |= {"do_sample_frames": False, "video_metadata": metadata}
        return super().preprocess(videos, **kwargs)

    def fetch_videos(
        self,
        video_url_or_urls,
        sample_indices_fn=None,
        *,
        num_frames: int | None = None,
        fps: float | None = None,
        decode_mode: str | None = None,
        decode_threads: int | None = None,
        size=None,
        do_resize=None,
    ):
        """Paths and URLs are decoded with PyAV (the base class needs torchcodec and system FFmpeg), straight to the
        resize target (`size`, `do_resize`); `DecodedVideo`s and frame dicts are sampled. `num_frames` and
        `decode_mode` default to this processor's. Returns frames and `V2XumVideoMetadata` (real timestamps), one or
        a list of each. (`sample_indices_fn`, transformers' sampling callback, is not used: sampling follows the
        released rule, `sample_frame_indices`.)"""
        num_frames = num_frames or self.num_frames
        decode_mode = decode_mode or self.decode_mode
        if decode_mode not in ("exact", "keyframes"):
            raise ValueError(f"decode_mode must be 'exact' or 'keyframes', got {decode_mode!r}")
        shortest_edge = self.resize_edge(size, do_resize)
        sources = flatten_videos(video_url_or_urls)
        threads = decode_threads or self.decode_threads
        decoded = [self.load_video(s, num_frames, decode_mode, fps, shortest_edge, threads) for s in sources]
        frames = [video.frames for video in decoded]
        metadata = [V2XumVideoMetadata.from_decoded(video) for video in decoded]
        if isinstance(video_url_or_urls, (list, tuple)):
            return frames, metadata
        return frames[0], metadata[0]

    def resize_edge(self, size=None, do_resize: bool | None = None) -> int | None:
        """The shortest edge frames are resized to (`size` and `do_resize` default to this processor's), or None:
        what decoding can convert to directly."""
        size = size if size is not None else self.size
        if not (do_resize if do_resize is not None else self.do_resize):
            return None
        return size.get("shortest_edge") if isinstance(size, dict) else getattr(size, "shortest_edge", None)

    @staticmethod
    def load_video(
        source,
        num_frames: int,
        decode_mode: str = "exact",
        fps: float | None = None,
        shortest_edge: int | None = None,
        decode_threads: int | None = None,
    ) -> DecodedVideo:
        """The sampled frames (`sample_frame_indices`) of a path or URL, a `datasets.Video` value (`{"path",
        "bytes"}`), a `DecodedVideo` or a dict of `DecodedVideo.from_frames` arguments; decoded frames are converted
        straight to `shortest_edge`."""
        if isinstance(source, dict) and not {"path", "bytes"} & source.keys():
            source = DecodedVideo.from_dict(source)
        if isinstance(source, DecodedVideo):
            return source.sample(num_frames, fps)
        source = video_source(source)  # a path or URL, or a datasets.Video value
        return decode_video(
            source, num_frames, decode_mode, fps, shortest_edge=shortest_edge, decode_threads=decode_threads
        )

    def iter_windows(
        self,
        source,
        window_seconds: float,
        num_frames: int | None = None,
        fps: float | None = None,
        decode_mode: str | None = None,
        progress: bool = False,
    ):
        """Yields `(start, end, DecodedVideo)` for the `window_spans` of a path, URL, `VideoReader`, `DecodedVideo`
        or frame dict, each window sampled on its own (`num_frames` or `fps`, as a whole video is), at this
        processor's resize target. One window's frames are in memory at a time: the file is indexed once (pass a
        `VideoReader` to reuse one) and each window decoded when it is asked for. Windows without a frame are
        skipped. `progress`: a progress bar (on stderr) over the windows."""
        num_frames = num_frames or self.num_frames
        if isinstance(source, dict):
            source = DecodedVideo.from_dict(source)
        if isinstance(source, DecodedVideo):
            reader = None
        else:
            reader = source if isinstance(source, VideoReader) else VideoReader(source, self.decode_threads)
        duration = source.duration if reader is None else reader.timeline.duration
        shortest_edge = self.resize_edge()
        spans = window_spans(duration, window_seconds)
        if progress:
            from tqdm.auto import tqdm

            name = os.path.basename(getattr(source, "source", "") or "video")
            spans = tqdm(spans, desc=f"windows of {name}", unit="window", leave=False)
        for start, end in spans:
            try:
                if reader is None:
                    window = source.window(start, end).sample(num_frames, fps)
                else:
                    window = reader.sample(num_frames, decode_mode or self.decode_mode, fps, shortest_edge, start, end)
            except EmptyWindowError:
                continue
            yield start, end, window

    def _decode_and_sample_videos(self, videos, video_metadata, do_sample_frames=None, sample_indices_fn=None):
        videos = make_batched_videos(videos)
        if any(len(video) == 0 for video in videos):
            raise ValueError("Received a video with no frames")
        return super()._decode_and_sample_videos(videos, video_metadata, do_sample_frames, sample_indices_fn)

    def _preprocess(self, videos: list[torch.Tensor], return_tensors=None, decode_mode=None, **kwargs) -> BatchFeature:
        processed = super()._preprocess(videos, return_tensors=None, **kwargs)["pixel_values_videos"]
        padded, mask = pad_videos(list(processed))
        return BatchFeature({"pixel_values_videos": padded, "video_frame_mask": mask}, tensor_type=return_tensors)


__all__ = [
    "V2XumVideoProcessor",
    "V2XumVideoMetadata",
    "V2XumVideosKwargs",
    "pad_videos",
    "flatten_videos",
]
