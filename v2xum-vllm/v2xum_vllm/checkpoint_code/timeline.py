# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Time in V2Xum: which frames are sampled (the released uniform rule, or by fps), how long a video lasts, the 0-99
annotation grid, time windows of long videos, and the two timelines:

- `VideoTimeline`: when every frame of a video file shows (what the decoder reads from the file);
- `SampledFrames`: the frames the model sees, each with its source frame index and seconds: the one mapping between
  what the model names (`[f03]` is sampled frame 3) and the video's real time.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


# VTimeLLM/V2Xum annotations place events on a 0-99 grid: k = min(round(t / duration * 100), 99).
GRID_SIZE = 100


def grid_to_seconds(grid_index: int, duration: float) -> float:
    """Seconds of a 0-99 annotation grid index: `k / 100 * duration`."""
    if not 0 <= grid_index < GRID_SIZE:
        raise ValueError(f"grid index must be in [0, {GRID_SIZE}), got {grid_index}")
    return grid_index / GRID_SIZE * duration


def seconds_to_grid(seconds: float, duration: float) -> int:
    """The 0-99 annotation grid index of a time: `min(round(t / duration * 100), 99)`."""
    return min(round(seconds / duration * GRID_SIZE), GRID_SIZE - 1)


def uniform_frame_indices(total_num_frames: int, num_frames: int) -> list[int]:
    """`num_frames` indices spread uniformly over `[0, total_num_frames)`, first and last frame included, by the
    released V2Xum code's rule (`np.linspace(0, n - 1, N)` truncated to integers, so a converted released checkpoint
    sees the frames it was trained on); every frame, once, when the video has fewer than `num_frames`."""
    if total_num_frames <= 0:
        return []
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if total_num_frames <= num_frames:
        return list(range(total_num_frames))
    return np.linspace(0, total_num_frames - 1, num_frames).astype(int).tolist()


def sample_frame_indices(timestamps, num_frames: int | None = None, fps: float | None = None) -> list[int]:
    """Which frames to keep, given every frame's time: `num_frames` uniformly (`uniform_frame_indices`), or with
    `fps` the frame showing at each `k / fps` seconds, capped at `num_frames` (then uniform over those)."""
    if fps is None:
        if num_frames is None:
            raise ValueError("Give num_frames or fps")
        return uniform_frame_indices(len(timestamps), num_frames)
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    times = np.asarray(timestamps, dtype=np.float64)
    span = duration_from_timestamps(times) if len(times) else 0.0
    count = max(1, math.ceil(span * fps - 1e-9))  # sample times k / fps, k < count
    if count <= 4 * len(times) + 16:
        wanted = times[0] + np.arange(count) / fps
        picked = np.unique(np.maximum(np.searchsorted(times, wanted + 1e-9, side="right") - 1, 0)).tolist()
    else:  # far more sample times than frames (a huge fps): never list them, ask each frame instead
        picked = frames_showing_at_sample_times(times, fps, count)
    if num_frames is not None and len(picked) > num_frames:
        picked = [picked[i] for i in uniform_frame_indices(len(picked), num_frames)]
    return picked


def frames_showing_at_sample_times(times: np.ndarray, fps: float, count: int) -> list[int]:
    """The frames on screen at some sample time `times[0] + k / fps`, `0 <= k < count` (frame `i` shows from
    `times[i]` to the next frame's time): what listing every sample time gives, in memory that grows with the
    frames, not with `count`."""
    start = times[0]
    shows_until = np.append(times[1:], np.inf)
    first = np.ceil((times - 1e-9 - start) * fps)  # the first sample time at or after each frame's start

    def sampled(k: np.ndarray) -> np.ndarray:
        at = start + k / fps
        return (k >= 0) & (k < count) & (times <= at + 1e-9) & (at + 1e-9 < shows_until)

    # `first` may be off by one where the product rounds: its neighbours are checked with the exact comparison.
    return np.nonzero(sampled(first - 1) | sampled(first) | sampled(first + 1))[0].tolist()


def duration_from_timestamps(timestamps) -> float:
    """A video's length when no container says it: from the first frame to the end of the last, which lasts as long
    as the median frame step (one frame for a constant rate; 0 for a single frame)."""
    step = float(np.median(np.diff(timestamps))) if len(timestamps) > 1 else 0.0
    return float(timestamps[-1]) - float(timestamps[0]) + step


class WindowSpans(Sequence):
    """Consecutive `(start, end)` windows `[k * window_seconds, (k + 1) * window_seconds)` covering `[0, duration)`,
    the last one cut at the end (at least one window). A sequence computed on demand: its length is known at once
    and no list of them is ever built, however short the windows."""

    def __init__(self, duration: float, window_seconds: float):
        if isinstance(window_seconds, bool) or not isinstance(window_seconds, (int, float)) or not window_seconds > 0:
            raise ValueError(f"window_seconds must be a positive number, got {window_seconds!r}")
        self.duration, self.window_seconds = duration, window_seconds
        self.count = max(1, math.ceil(duration / window_seconds - 1e-9))

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(self.count))]
        if not -self.count <= k < self.count:
            raise IndexError(f"window {k} of {self.count}")
        k %= self.count
        return k * self.window_seconds, min((k + 1) * self.window_seconds, self.duration)


def window_spans(duration: float, window_seconds: float) -> WindowSpans:
    """The time windows of a video (`WindowSpans`)."""
    return WindowSpans(duration, window_seconds)


@dataclass
class VideoTimeline:
    """When every frame of a video shows: `timestamps[i]` is frame `i`'s seconds from the first frame (the numbering
    and times `decode_video` reports), `duration` the video's length."""

    timestamps: list[float]
    duration: float
    warnings: list[str] = field(default_factory=list)

    def end_of(self, index: int) -> float:
        """When frame `index` stops showing: the next frame's time, or the end of the video."""
        return self.timestamps[index + 1] if index + 1 < len(self.timestamps) else self.duration


@dataclass(frozen=True)
class SampledFrames:
    """Where each sampled frame of one video sits in time: the one mapping between sampled frame indices
    (what the model sees and names), source frame indices and seconds.

    Attributes:
        timestamps: seconds of each sampled frame (from its presentation timestamp), increasing.
        frame_indices: index of each sampled frame in the source video.
        duration: length of the video in seconds.
    """

    timestamps: tuple[float, ...]
    frame_indices: tuple[int, ...]
    duration: float

    def __post_init__(self):
        if len(self.timestamps) != len(self.frame_indices):
            raise ValueError(
                f"timestamps ({len(self.timestamps)}) and frame_indices ({len(self.frame_indices)}) differ in length"
            )
        if len(self.timestamps) == 0:
            raise ValueError("a SampledFrames needs at least one sampled frame")
        if any(b <= a for a, b in zip(self.timestamps, self.timestamps[1:])):
            raise ValueError("timestamps must be strictly increasing")

    @classmethod
    def from_metadata(cls, metadata) -> "SampledFrames":
        """From a `DecodedVideo`, a `VideoMetadata`/`V2XumVideoMetadata` or a dict with the same fields."""
        get = metadata.get if isinstance(metadata, dict) else lambda key, default=None: getattr(metadata, key, default)
        frame_indices = list(get("frame_indices") or get("frames_indices") or [])
        timestamps = get("frame_timestamps") or get("timestamps")
        if timestamps is None:
            fps = get("fps")
            if not fps:
                raise ValueError("video metadata has neither frame timestamps nor fps; seconds cannot be computed")
            timestamps = [i / fps for i in frame_indices]
        duration = get("duration")
        if duration is None:
            duration = duration_from_timestamps(timestamps) if len(timestamps) else 0.0
        return cls(tuple(float(t) for t in timestamps), tuple(int(i) for i in frame_indices), float(duration))

    def __len__(self) -> int:
        return len(self.timestamps)

    def to_seconds(self, sampled_index: int) -> float:
        return self.timestamps[sampled_index]

    def nearest(self, seconds: float) -> int:
        """The sampled frame nearest to `seconds` (ties go to the earlier frame)."""
        position = int(np.searchsorted(self.timestamps, seconds))
        if position == 0:
            return 0
        if position == len(self.timestamps):
            return len(self.timestamps) - 1
        before, after = self.timestamps[position - 1], self.timestamps[position]
        return position - 1 if seconds - before <= after - seconds else position


__all__ = [
    "GRID_SIZE",
    "grid_to_seconds",
    "seconds_to_grid",
    "uniform_frame_indices",
    "sample_frame_indices",
    "duration_from_timestamps",
    "window_spans",
    "WindowSpans",
    "frames_showing_at_sample_times",
    "VideoTimeline",
    "SampledFrames",
]
