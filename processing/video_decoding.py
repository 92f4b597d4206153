# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Exact, fast frame sampling with PyAV (FFmpeg bundled in the `av` wheel; no system FFmpeg needed).

One demux-only pass reads every video packet's presentation timestamp and keyframe flag: that gives the true frame
count and the real time of every frame, whatever the container claims. Frames are then decoded by seeking to the
keyframe before each wanted frame, and only when a keyframe lies between the decoder's position and the target
(otherwise decoding simply continues forward in the same GOP).
"""

import bisect
import os
from dataclasses import dataclass, field, replace
from typing import Literal

import av
import numpy as np

from .summary import duration_from_timestamps


DecodeMode = Literal["exact", "keyframes"]


class VideoDecodingError(ValueError):
    """A video could not be decoded. `path` names the file and `reason` says why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"Cannot decode video '{self.path}': {reason}")


@dataclass
class DecodedVideo:
    """Sampled frames of one video and where they come from.

    Attributes:
        frames: `(num_sampled, height, width, 3)` uint8 RGB, upright (rotation metadata applied).
        timestamps: seconds of each sampled frame from the first frame, read from its presentation timestamp.
        frame_indices: index of each sampled frame among all frames of the video, in presentation order.
        total_num_frames: frames really in the video stream (counted, not taken from the container header).
        fps: average frame rate, `total_num_frames / duration` when the stream's own rate is unknown.
        duration: seconds from the first frame's start to the last frame's end.
        width, height: size of the returned (upright) frames.
        rotation: rotation in degrees that was applied (0, 90, 180 or 270).
    """

    frames: np.ndarray
    timestamps: list[float]
    frame_indices: list[int]
    total_num_frames: int
    fps: float
    duration: float
    width: int
    height: int
    rotation: int = 0
    path: str | None = field(default=None, repr=False)

    @classmethod
    def from_frames(
        cls,
        frames,
        timestamps: list[float] | None = None,
        fps: float | None = None,
        frame_indices: list[int] | None = None,
        duration: float | None = None,
    ) -> "DecodedVideo":
        """Frames decoded elsewhere, `(T, H, W, 3)` uint8, with their seconds: `timestamps`, or `fps` for frames
        `0..T-1` of a constant-rate video. `frame_indices` default to `0..T-1`; `duration` to the span of the
        timestamps plus one frame step."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
            raise ValueError(f"'frames' must be a non-empty (num_frames, height, width, 3) array, got {frames.shape}")
        if timestamps is None:
            if not fps:
                raise ValueError("A decoded video needs 'timestamps' (seconds per frame) or 'fps' to give seconds")
            timestamps = [i / fps for i in range(len(frames))]
        if len(timestamps) != len(frames):
            raise ValueError(f"Got {len(frames)} frames but {len(timestamps)} timestamps")
        frame_indices = list(range(len(frames))) if frame_indices is None else [int(i) for i in frame_indices]
        duration = duration_from_timestamps(timestamps) if duration is None else float(duration)
        return cls(
            frames=frames,
            timestamps=[float(t) for t in timestamps],
            frame_indices=frame_indices,
            total_num_frames=len(frames),
            fps=len(frames) / duration if duration > 0 else 0.0,
            duration=duration,
            width=frames.shape[2],
            height=frames.shape[1],
        )

    @classmethod
    def from_dict(cls, video: dict) -> "DecodedVideo":
        """`from_frames` for a dict with `frames` and `timestamps` or `fps` (optionally `frame_indices`, `duration`)."""
        fields = ("frames", "timestamps", "fps", "frame_indices", "duration")
        if video.get("frames") is None:
            raise ValueError("A decoded video input needs 'frames': a (num_frames, height, width, 3) uint8 array")
        unknown = sorted(set(video) - set(fields))
        if unknown:
            raise ValueError(f"Unknown decoded video fields {unknown}; expected some of {list(fields)}")
        return cls.from_frames(**video)

    def sample(self, num_frames: int) -> "DecodedVideo":
        """`num_frames` of these frames by the uniform rule (`uniform_frame_indices`), all of them when fewer."""
        keep = uniform_frame_indices(len(self.frames), num_frames)
        if len(keep) == len(self.frames):
            return self
        return replace(
            self,
            frames=self.frames[keep],
            timestamps=[self.timestamps[i] for i in keep],
            frame_indices=[self.frame_indices[i] for i in keep],
        )


def uniform_frame_indices(total_num_frames: int, num_frames: int) -> list[int]:
    """`num_frames` indices spread uniformly over `[0, total_num_frames)`, first and last frame included (the
    released model's `linspace(0, n - 1, N)`); every frame, once, when the video has fewer than `num_frames`."""
    if total_num_frames <= 0:
        return []
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if total_num_frames <= num_frames:
        return list(range(total_num_frames))
    return np.linspace(0, total_num_frames - 1, num_frames).round().astype(int).tolist()


def _open(path: str) -> "av.container.InputContainer":
    if not os.path.exists(path):
        raise VideoDecodingError(path, "file not found")
    if os.path.isdir(path):
        raise VideoDecodingError(path, "is a directory, not a video file")
    try:
        return av.open(path)
    except av.error.FFmpegError as error:
        raise VideoDecodingError(path, f"not a readable video container ({error})") from error


def _video_stream(container, path: str):
    if not container.streams.video:
        raise VideoDecodingError(path, "contains no video stream (audio-only or data file)")
    stream = container.streams.video[0]
    stream.thread_type = "SLICE"  # frame threading was measured slower for seek-heavy decoding
    return stream


def _index_packets(path: str) -> tuple[list[int], list[int], float]:
    """Demux-only pass: sorted presentation timestamps of all frames, keyframe timestamps, time base."""
    container = _open(path)
    try:
        stream = _video_stream(container, path)
        time_base = float(stream.time_base)
        pts, keyframes = [], []
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:  # flush packets; pts-less packets cannot be sought to
                continue
            pts.append(packet.pts)
            if packet.is_keyframe:
                keyframes.append(packet.pts)
    except av.error.FFmpegError as error:
        raise VideoDecodingError(path, f"corrupt or truncated stream ({error})") from error
    finally:
        container.close()
    if not pts:
        raise VideoDecodingError(path, "the video stream has no frames")
    pts = sorted(set(pts))
    keyframes = sorted(set(keyframes)) or [pts[0]]
    return pts, keyframes, time_base


def _to_rgb(frame: "av.VideoFrame") -> tuple[np.ndarray, int]:
    image = frame.to_ndarray(format="rgb24")  # swscale converts gray, alpha, 10-bit and odd sizes
    rotation = int(round(frame.rotation or 0)) % 360
    if rotation:
        # FFmpeg's display rotation is counter-clockwise; rot90 with k>0 is counter-clockwise too.
        image = np.ascontiguousarray(np.rot90(image, k=rotation // 90))
    return image, rotation


def _decode_at(path: str, targets: list[int], keyframes: list[int], mode: DecodeMode) -> dict[int, tuple]:
    """Decodes the frames whose pts are in `targets` (sorted). Returns `{pts: (rgb, rotation)}`."""
    found: dict[int, tuple] = {}
    container = _open(path)
    try:
        stream = _video_stream(container, path)
        if mode == "keyframes":
            stream.codec_context.skip_frame = "NONKEY"
        frames = None
        position = None  # pts of the last decoded frame
        for target in targets:
            keyframe = keyframes[max(bisect.bisect_right(keyframes, target) - 1, 0)]
            if position is None or position >= target or keyframe > position:
                container.seek(keyframe, stream=stream, backward=True)
                frames = container.decode(stream)
            for frame in frames:
                if frame.pts is None:
                    continue
                position = frame.pts
                if frame.pts >= target:
                    if frame.pts == target or mode == "keyframes":
                        found[frame.pts] = _to_rgb(frame)
                    break
    except av.error.FFmpegError as error:
        raise VideoDecodingError(path, f"corrupt or truncated stream ({error})") from error
    finally:
        container.close()
    return found


def decode_video(path: str | os.PathLike, num_frames: int, mode: DecodeMode = "exact") -> DecodedVideo:
    """Samples up to `num_frames` frames uniformly over the whole video.

    Args:
        path: a video file.
        num_frames: frames to sample; a shorter video yields all its frames. (The package's default frame count is
            the video processor's `num_frames`, which decodes through this function.)
        mode: `"exact"` returns the frames at the uniform positions; `"keyframes"` returns the nearest keyframes
            instead (much faster, approximate positions, still true timestamps; repeated keyframes are dropped,
            so fewer frames may come back).

    Raises:
        VideoDecodingError: missing file, directory, not a video, no video stream, no frames, corrupt data.
    """
    path = os.fspath(path)
    if mode not in ("exact", "keyframes"):
        raise ValueError(f"mode must be 'exact' or 'keyframes', got {mode!r}")
    pts, keyframes, time_base = _index_packets(path)
    indices = uniform_frame_indices(len(pts), num_frames)
    if mode == "keyframes":
        wanted = sorted({min(keyframes, key=lambda k: abs(k - pts[i])) for i in indices})
    else:
        wanted = [pts[i] for i in indices]

    found = _decode_at(path, wanted, keyframes, mode)
    missing = [p for p in wanted if p not in found]
    if missing:
        if not found:
            raise VideoDecodingError(path, "no frame could be decoded (corrupt or truncated stream)")
        raise VideoDecodingError(
            path, f"{len(missing)} of {len(wanted)} sampled frames could not be decoded (corrupt or truncated stream)"
        )

    position_of = {p: i for i, p in enumerate(pts)}
    images = [found[p][0] for p in wanted]
    rotation = found[wanted[0]][1]
    first = pts[0]
    duration = duration_from_timestamps(pts) * time_base
    fps = len(pts) / duration if duration > 0 else 0.0
    height, width = images[0].shape[:2]
    return DecodedVideo(
        frames=np.stack(images),
        timestamps=[round((p - first) * time_base, 6) for p in wanted],
        frame_indices=[position_of[p] for p in wanted],
        total_num_frames=len(pts),
        fps=fps,
        duration=duration,
        width=width,
        height=height,
        rotation=rotation,
        path=path,
    )


__all__ = ["DecodedVideo", "VideoDecodingError", "decode_video", "uniform_frame_indices"]
