# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Video processor for V2Xum: PyAV decoding with real timestamps, uniform sampling, CLIP preprocessing."""

from dataclasses import dataclass

import numpy as np
import torch
from transformers import BatchFeature
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, PILImageResampling
from transformers.processing_utils import Unpack, VideosKwargs
from transformers.video_processing_utils import BaseVideoProcessor
from transformers.video_utils import VideoMetadata, make_batched_videos

from .video_decoding import DecodedVideo, decode_video, uniform_frame_indices


class V2XumVideosKwargs(VideosKwargs, total=False):
    """`decode_mode`: `"exact"` frames (default) or the nearest `"keyframes"` (fast, approximate)."""

    decode_mode: str


@dataclass
class V2XumVideoMetadata(VideoMetadata):
    """`VideoMetadata` plus the real presentation time of each sampled frame (variable frame rate safe)."""

    frame_timestamps: list[float] | None = None

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
        )


class V2XumVideoProcessor(BaseVideoProcessor):
    r"""
    Turns video files or decoded frames into `pixel_values_videos` for V2Xum.

    Paths are decoded with PyAV (`processing.video_decoding.decode_video`): up to `num_frames` exact frames spread
    uniformly over the whole video, with their real timestamps. Decoded frames (`(T, H, W, 3)` arrays or tensors)
    are sampled the same way when `do_sample_frames=True`; pass `video_metadata` (fps or timestamps) for seconds.
    Frames are resized (shortest edge), center-cropped and normalized as CLIP expects.

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
    num_frames = 100
    decode_mode = "exact"
    return_metadata = True
    valid_kwargs = V2XumVideosKwargs
    model_input_names = ["pixel_values_videos", "video_frame_mask"]

    def __init__(self, **kwargs: Unpack[V2XumVideosKwargs]):
        super().__init__(**kwargs)

    def sample_frames(self, metadata: VideoMetadata, num_frames: int | None = None, fps=None, **kwargs) -> np.ndarray:
        """Uniform over the whole video, first and last frame included; all frames when the video is shorter."""
        if fps is not None:
            raise ValueError("V2Xum samples a fixed number of frames; pass num_frames, not fps")
        return np.array(uniform_frame_indices(metadata.total_num_frames, num_frames or self.num_frames))

    def fetch_videos(self, video_url_or_urls, sample_indices_fn=None):
        """Decodes paths with PyAV (the base class needs torchcodec and system FFmpeg)."""
        paths = video_url_or_urls if isinstance(video_url_or_urls, list) else [video_url_or_urls]
        num_frames = self.num_frames
        if sample_indices_fn is not None and getattr(sample_indices_fn, "keywords", None):
            num_frames = sample_indices_fn.keywords.get("num_frames") or num_frames
        decoded = [decode_video(path, num_frames=num_frames, mode=self.decode_mode) for path in paths]
        frames = [video.frames for video in decoded]
        metadata = [V2XumVideoMetadata.from_decoded(video) for video in decoded]
        if isinstance(video_url_or_urls, list):
            return frames, metadata
        return frames[0], metadata[0]

    def preprocess(self, videos, **kwargs: Unpack[V2XumVideosKwargs]) -> BatchFeature:
        decode_mode = kwargs.pop("decode_mode", None) or self.decode_mode
        if decode_mode not in ("exact", "keyframes"):
            raise ValueError(f"decode_mode must be 'exact' or 'keyframes', got {decode_mode!r}")
        # Paths are decoded here so the real timestamps travel as metadata; the base class then only sees frames.
        batch = videos if isinstance(videos, (list, tuple)) else [videos]
        # Chat templates pass one list of paths per conversation.
        batch = [leaf for item in batch for leaf in (item if isinstance(item, (list, tuple)) else [item])]
        if batch and all(isinstance(v, str) or hasattr(v, "__fspath__") for v in batch):
            num_frames = kwargs.get("num_frames") or self.num_frames
            decoded = [decode_video(v, num_frames=num_frames, mode=decode_mode) for v in batch]
            videos = [video.frames for video in decoded]
            kwargs["video_metadata"] = [V2XumVideoMetadata.from_decoded(video) for video in decoded]
            kwargs["do_sample_frames"] = False
        return super().preprocess(videos, **kwargs)

    def _decode_and_sample_videos(self, videos, video_metadata, do_sample_frames=None, sample_indices_fn=None):
        videos = make_batched_videos(videos)
        if any(len(video) == 0 for video in videos):
            raise ValueError("Received a video with no frames")
        return super()._decode_and_sample_videos(videos, video_metadata, do_sample_frames, sample_indices_fn)

    def _preprocess(self, videos: list[torch.Tensor], return_tensors=None, **kwargs) -> BatchFeature:
        processed = super()._preprocess(videos, return_tensors=None, **kwargs)["pixel_values_videos"]
        lengths = [len(video) for video in processed]
        longest = max(lengths)
        padded = torch.zeros((len(processed), longest, *processed[0].shape[1:]), dtype=processed[0].dtype)
        for i, video in enumerate(processed):
            padded[i, : len(video)] = video
        mask = torch.arange(longest)[None, :] < torch.tensor(lengths)[:, None]
        return BatchFeature({"pixel_values_videos": padded, "video_frame_mask": mask}, tensor_type=return_tensors)


__all__ = ["V2XumVideoProcessor", "V2XumVideoMetadata", "V2XumVideosKwargs"]
