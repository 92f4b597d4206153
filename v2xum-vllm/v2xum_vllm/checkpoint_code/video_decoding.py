# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Exact, fast frame sampling with PyAV (FFmpeg bundled in the `av` wheel; no system FFmpeg needed).

Frame `i` of a video is the `i`-th frame a plain sequential decode outputs; its time is its presentation timestamp.
One demux-only pass reads every packet's timestamps and keyframe flag: the true frame count and the time of every
frame, whatever the container header claims. Wanted frames are then decoded by seeking to the keyframe before them
(only when one lies between the decoder's position and the target), skipping non-reference frames that are not
wanted. What a seek returns is verified: a container that seeks past its target (MPEG-TS with B-frames) is read
forward instead, and a stream whose timestamps cannot identify its frames (duplicated, reordered or restarting pts,
frames that do not decode) is decoded sequentially, frames identified by their output order, on one monotonic
timeline. Frames are converted only when wanted, straight to the size the caller needs, all to one size, into one
preallocated array (what `DecodedVideo.frames` is).

Threads: frame threading pipelines whole frames across threads, which is what speeds up ordinary footage (one slice
per frame, where slice threading does nothing), but it refills its pipeline after every seek; so it is chosen by the
work: for reads that decode long runs in order (sequential passes, reading forward, many frames per seek), slice
threading where seeks dominate. The thread count comes from the cores this process may run on
(`decode_thread_count`). Frames are identified by their pts or their output order, never by when they come out.
"""

import bisect
import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import av
import numpy as np

from .timeline import VideoTimeline, duration_from_timestamps, sample_frame_indices, uniform_frame_indices


DecodeMode = Literal["exact", "keyframes"]
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
# A timestamp this many frame steps below the running maximum starts a new segment (concatenated files), where a
# smaller step back is B-frame reordering.
_RESTART_STEPS = 16
# Frame threading pays from this many frames decoded per seek, per thread (a seek costs a pipeline refill).
FRAME_THREADING_RUN = 8


def cpu_cores() -> int:
    """The cores this process may run on (its CPU affinity), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def decode_thread_count(requested: int | None = None, workers: int = 1) -> int:
    """Threads one decoder uses: `requested` (at most `cpu_cores()`), else the cores shared evenly among `workers`
    decoders that run at once (several processes or a prefetch pool), at least one."""
    cores = cpu_cores()
    if requested is not None:
        if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
            raise ValueError(f"decode_threads must be a positive integer, got {requested!r}")
        return min(requested, cores)
    return max(1, cores // max(1, workers))


@dataclass(frozen=True)
class _Threads:
    """How one read decodes: `count` threads, frame threading or slice threading."""

    count: int = 1
    frame: bool = False


class EmptyWindowError(ValueError):
    """No frame of the video lies in the asked time window."""


class VideoDecodingError(ValueError):
    """A video could not be decoded. `path` names the file (or URL) and `reason` says why."""

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
        fps: average frame rate, `total_num_frames / duration`.
        duration: seconds from the first frame's start to the last frame's end (a single frame lasts the container's
            duration, or one frame at the stream's rate).
        width, height: size of the returned (upright) frames.
        rotation: rotation in degrees that was applied (0, 90, 180 or 270).
        warnings: what the caller should know (a truncated file, timestamps that had to be repaired, ...).
        source_width, source_height: the video's own (upright) size, before frames were scaled down for the
            caller (None: the frames' size).
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
    warnings: list[str] = field(default_factory=list)
    source_width: int | None = None
    source_height: int | None = None

    @property
    def source_size(self) -> tuple[int, int]:
        """The video's own upright `(width, height)`."""
        return self.source_width or self.width, self.source_height or self.height

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
        """`from_frames` for a dict with `frames` and `timestamps` or `fps` (and optionally `frame_indices`,
        `duration`)."""
        fields = ("frames", "timestamps", "fps", "frame_indices", "duration")
        if video.get("frames") is None:
            raise ValueError("A decoded video input needs 'frames': a (num_frames, height, width, 3) uint8 array")
        unknown = sorted(set(video) - set(fields))
        if unknown:
            raise ValueError(f"Unknown decoded video fields {unknown}; expected some of {list(fields)}")
        return cls.from_frames(**video)

    def window(self, start: float, end: float) -> "DecodedVideo":
        """The frames with `start <= timestamp < end` (indices and times unchanged)."""
        keep = [i for i, t in enumerate(self.timestamps) if start <= t < end]
        if not keep:
            raise EmptyWindowError(f"No frame of this video lies in [{start}, {end}) s")
        return replace(
            self,
            frames=self.frames[keep],
            timestamps=[self.timestamps[i] for i in keep],
            frame_indices=[self.frame_indices[i] for i in keep],
        )

    def sample(self, num_frames: int | None = None, fps: float | None = None) -> "DecodedVideo":
        """These frames sampled by `sample_frame_indices` (all of them when there are fewer)."""
        keep = sample_frame_indices(self.timestamps, num_frames=num_frames, fps=fps)
        if len(keep) == len(self.frames):
            return self
        return replace(
            self,
            frames=self.frames[keep],
            timestamps=[self.timestamps[i] for i in keep],
            frame_indices=[self.frame_indices[i] for i in keep],
        )


# -- opening ----------------------------------------------------------------------------------------------------------


def is_url(source: str) -> bool:
    return bool(_URL.match(source))


def url_timeout() -> float:
    """Seconds a URL may take to connect, and to answer each read (`V2XUM_URL_TIMEOUT`, default 30)."""
    return float(os.environ.get("V2XUM_URL_TIMEOUT", "30"))


# What FFmpeg may open on the way to the frames: a local file reads only files, a URL only the network (never a
# `file:` path named inside a remote playlist).
_PROTOCOLS = {False: "file", True: "http,https,tcp,tls,crypto"}
# Containers a plain video file is in (FFmpeg demuxer names); playlists (hls), lists of other files (concat) and
# numbered image sequences (image2) are not plain media: `check_plain_media` refuses them.
PLAIN_CONTAINERS = frozenset(
    {
        "mov,mp4,m4a,3gp,3g2,mj2",
        "matroska,webm",
        "avi",
        "mpegts",
        "flv",
        "mpeg",
        "asf",
        "ogg",
        "m4v",
        "h264",
        "hevc",
    }
)


def _open(source: str) -> "av.container.InputContainer":
    url = is_url(source)
    if url and not source.lower().startswith(("http://", "https://")):
        raise VideoDecodingError(source, "only http:// and https:// URLs are read")
    if not url:
        if not os.path.exists(source):
            raise VideoDecodingError(source, "file not found")
        if os.path.isdir(source):
            raise VideoDecodingError(source, "is a directory, not a video file")
    timeout = url_timeout() if url else None
    try:
        return av.open(source, timeout=timeout, options={"protocol_whitelist": _PROTOCOLS[url]})
    except av.error.ExitError as error:  # the interrupt FFmpeg raises when the timeout runs out
        raise VideoDecodingError(source, f"timed out after {timeout:g} s (the server did not answer)") from error
    except av.error.FFmpegError as error:
        what = "cannot open the URL" if url else "not a readable video container"
        raise VideoDecodingError(source, f"{what} ({error})") from error


def video_source(value) -> str:
    """A video as a path or URL, whatever form it is given in: a path or URL as it is; a `datasets.Video` value read
    without decoding (`{"path": ..., "bytes": ...}`: its path when that file exists, else its bytes, written once
    to a file named by their hash in the temporary folder)."""
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, dict) and ("path" in value or "bytes" in value):
        path, data = value.get("path"), value.get("bytes")
        if path and (is_url(path) or os.path.exists(path) or not data):
            return os.fspath(path)
        if data:
            digest = hashlib.sha256(data).hexdigest()[:32]
            suffix = os.path.splitext(path or "")[1] or ".mp4"
            target = os.path.join(tempfile.gettempdir(), "v2xum-videos", digest + suffix)
            if not os.path.isfile(target):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target + ".part", "wb") as f:
                    f.write(data)
                os.replace(target + ".part", target)
            return target
    raise TypeError(f"not a video: {type(value).__name__} (give a path, a URL or a datasets.Video value)")


def check_plain_media(path: str | os.PathLike) -> str:
    """A file from an untrusted source (an upload) that is plain media: a regular local file whose container is one
    of `PLAIN_CONTAINERS`, never a playlist, a list of other files or an image pattern, whatever its name says.
    Returns the container's name; raises `VideoDecodingError` saying what it is otherwise."""
    path = os.fspath(path)
    if is_url(path) or not os.path.isfile(path) or os.path.islink(path):
        raise VideoDecodingError(path, "not a regular local file")
    with _open(path) as container:
        name = container.format.name
    if name not in PLAIN_CONTAINERS:
        raise VideoDecodingError(
            path, f"a '{name}' file is not a plain video (playlists, file lists and image sequences are refused)"
        )
    return name


def _video_stream(container, source: str, threads: _Threads = _Threads()):
    if not container.streams.video:
        raise VideoDecodingError(source, "contains no video stream (audio-only or data file)")
    stream = container.streams.video[0]
    stream.thread_count = threads.count
    stream.thread_type = "AUTO" if threads.frame and threads.count > 1 else "SLICE"
    return stream


def announced_duration(source: str) -> float | None:
    """The duration a file's header announces, in seconds (the longer of the video stream's and the container's),
    read without demuxing; None when the header gives none. Cheap enough to check every file of a dataset."""
    container = _open(source)
    try:
        stream = _video_stream(container, source)
        durations = [float(stream.duration * stream.time_base)] if stream.duration and stream.time_base else []
        durations += [container.duration / av.time_base] if container.duration else []
        return max(durations) if durations else None
    finally:
        container.close()


# -- the demux-only index ---------------------------------------------------------------------------------------------


@dataclass
class _PacketIndex:
    """What one demux-only pass knows about the video stream."""

    pts: list[int | None]  # per packet, in decode order
    dts: list[int | None]
    keyframe: list[bool]
    time_base: float
    rate: float | None  # the stream's declared or guessed frame rate, for a single frame's duration
    container_duration: float | None  # seconds, from the header
    errors: list[str] = field(default_factory=list)

    def pts_identify_frames(self) -> bool:
        """Whether sorted pts can stand for frames: every packet has one, none repeats, and dts never go back."""
        if not self.pts or any(p is None for p in self.pts) or len(set(self.pts)) != len(self.pts):
            return False
        dts = [d for d in self.dts if d is not None]
        return all(b >= a for a, b in zip(dts, dts[1:]))


def _index_packets(source: str) -> _PacketIndex:
    container = _open(source)
    pts, dts, keyframe, errors = [], [], [], []
    try:
        stream = _video_stream(container, source)
        time_base = float(stream.time_base)
        rate = float(stream.average_rate or stream.guessed_rate or 0) or None
        duration = container.duration / av.time_base if container.duration else None
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # flush packets
                    continue
                pts.append(packet.pts)
                dts.append(packet.dts)
                keyframe.append(bool(packet.is_keyframe))
        except av.error.FFmpegError as error:
            errors.append(f"the file could not be read to its end ({error})")
    finally:
        container.close()
    if not pts:
        raise VideoDecodingError(source, "the video stream has no frames" + (f": {errors[0]}" if errors else ""))
    return _PacketIndex(pts, dts, keyframe, time_base, rate, duration, errors)


# -- converting frames ------------------------------------------------------------------------------------------------


def output_size(width: int, height: int, shortest_edge: int | None) -> tuple[int, int]:
    """`(width, height)` with the shortest edge brought down to `shortest_edge` (never up), the aspect ratio kept as
    transformers' `shortest_edge` resize keeps it (the long side truncated)."""
    short, long = min(width, height), max(width, height)
    if shortest_edge is None or short <= shortest_edge:
        return width, height
    new_long = int(shortest_edge * long / short)
    return (shortest_edge, new_long) if width <= height else (new_long, shortest_edge)


class _Converter:
    """Turns decoded frames into upright RGB arrays of one size: the first frame's, or `shortest_edge` scaled."""

    def __init__(self, shortest_edge: int | None = None):
        self.shortest_edge = shortest_edge
        self.size: tuple[int, int] | None = None  # stored (not upright) width, height
        self.upright: tuple[int, int] | None = None  # the source's upright width, height
        self.rotation = 0
        self.damaged = 0  # frames the decoder flagged as corrupt
        self.frame_threaded = False  # whether the read converted from is frame-threaded
        self.redecoded = 0  # damaged frames already replaced by a plain decode's (`VideoReader.frames`)

    def __call__(self, frame: "av.VideoFrame") -> np.ndarray:
        self.damaged += bool(frame.is_corrupt)
        if self.size is None:
            self.rotation = int(round(frame.rotation or 0)) % 360
            upright = (frame.height, frame.width) if self.rotation in (90, 270) else (frame.width, frame.height)
            self.upright = upright
            width, height = output_size(*upright, self.shortest_edge)
            self.size = (height, width) if self.rotation in (90, 270) else (width, height)
        width, height = self.size
        scaled = (frame.width, frame.height) != (width, height)
        # swscale converts gray, alpha, 10-bit and odd sizes; its bicubic filter widens when shrinking (no aliasing),
        # as CLIP's bicubic resize does.
        image = frame.to_ndarray(
            format="rgb24", width=width, height=height, interpolation="BICUBIC" if scaled else None
        )
        if self.rotation:
            # FFmpeg's display rotation is counter-clockwise; rot90 with k>0 is counter-clockwise too.
            image = np.ascontiguousarray(np.rot90(image, k=self.rotation // 90))
        return image


class _FrameArray:
    """Converted frames written straight into one array of the final shape, allocated at the first frame (whose size
    every frame takes), in the order they come: no list of frames, no stack, no copy for the caller."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.array: np.ndarray | None = None
        self.indices: list[int] = []

    def add(self, index: int, image: np.ndarray) -> None:
        if self.array is None:
            self.array = np.empty((self.capacity, *image.shape), dtype=np.uint8)
        self.array[len(self.indices)] = image
        self.indices.append(index)

    def take(self, indices: list[int]) -> tuple[np.ndarray | None, list[int]]:
        """The frames of `indices` that were added, and their indices: a view of the array itself when they are all
        of it, in order (no copy); None when there is none."""
        if indices == self.indices or self.array is None:
            return (self.array[: len(self.indices)] if self.indices else None), list(self.indices)
        position = {index: i for i, index in enumerate(self.indices)}
        present = [i for i in indices if i in position]
        return self.array[[position[i] for i in present]], present


# -- decoding ---------------------------------------------------------------------------------------------------------


class _Unreliable(Exception):
    """The fast path cannot trust what the container gave back; `seek` says whether only seeking failed."""

    def __init__(self, reason: str, seek: bool = False):
        super().__init__(reason)
        self.seek = seek


def _seeks_to(keyframes: list[int], target: int, position: int | None) -> int | None:
    """The keyframe a read at `position` seeks to for `target`: only when one lies between them, or the target is
    behind; None: read on."""
    keyframe = keyframes[max(bisect.bisect_right(keyframes, target) - 1, 0)]
    return keyframe if position is None or position >= target or keyframe > position else None


def _frames_per_seek(timeline: list[int], keyframes: list[int], targets: list[int]) -> float:
    """Frames a seeking read of `targets` decodes per seek (what decides between frame and slice threading)."""
    seeks, decoded, position = 0, 0, None
    for target in targets:
        start = _seeks_to(keyframes, target, position)
        seeks += start is not None
        start = position if start is None else start
        decoded += bisect.bisect_right(timeline, target) - bisect.bisect_left(timeline, start)
        position = target
    return decoded / max(seeks, 1)


def _stream_by_pts(
    source: str,
    targets: list[int],
    keyframes: list[int],
    convert: _Converter,
    seek: bool,
    mode: DecodeMode = "exact",
    threads: _Threads = _Threads(),
):
    """`(pts, image)` of the frames whose pts are `targets` (sorted), in order, by seeking (or reading forward when
    `seek` is False). Raises `_Unreliable` when a seek lands after its target or on a damaged frame, or output pts
    are not increasing. In `"keyframes"` mode each target gives the first keyframe decoded from the seek point on."""
    found: set[int] = set()
    wanted = set(targets)
    container = _open(source)
    try:
        stream = _video_stream(container, source, threads)
        convert.frame_threaded = threads.frame and threads.count > 1
        codec = stream.codec_context
        if mode == "keyframes":
            codec.skip_frame = "NONKEY"
        frames, position = None, None
        for target in targets:
            if target in found:
                continue
            keyframe = _seeks_to(keyframes, target, position)
            if frames is None or (seek and keyframe is not None):  # (a first read has no position: a keyframe)
                if seek and not (frames is None and keyframe == keyframes[0]):  # no seek to where reading starts
                    container.seek(keyframe, stream=stream, backward=True)
                    codec.flush_buffers()
                frames, position = _frames(container, stream, wanted if mode == "exact" else None), None
            for frame in frames:
                if position is None and mode == "exact" and (frame.pts > target or seek and not frame.key_frame):
                    # Packet flags can lie (some MPEG-TS muxers flag every packet): a seek must start on a keyframe.
                    raise _Unreliable(f"reading for pts {target} started at pts {frame.pts}", seek=seek)
                if position is not None and frame.pts <= position:
                    raise _Unreliable(f"presentation timestamps go back ({position} then {frame.pts})")
                position = frame.pts
                if frame.pts not in found and (mode == "keyframes" or frame.pts in wanted):
                    if seek and frame.is_corrupt and mode == "exact":  # concealed from the frames before: read those
                        raise _Unreliable(f"frame at pts {frame.pts} is damaged", seek=True)
                    found.add(frame.pts)
                    yield frame.pts, convert(frame)
                if frame.pts >= target or mode == "keyframes":
                    break
    except av.error.FFmpegError as error:
        raise _Unreliable(f"decoding failed ({error})") from error
    finally:
        container.close()


def _frames(container, stream, wanted: set[int] | None):
    """Decoded frames with a pts, from the container's position on. Non-reference frames are skipped unless their
    packet is `wanted` (they are not needed to decode anything else), then the decoder is flushed."""
    codec = stream.codec_context
    for packet in container.demux(stream):
        if wanted is not None:
            codec.skip_frame = "DEFAULT" if packet.pts in wanted or packet.pts is None else "NONREF"
        for frame in codec.decode(packet if packet.size else None):
            if frame.pts is not None:
                yield frame


@dataclass
class _Sequential:
    """A plain sequential decode: every output frame's pts (in output order) and the kept frames."""

    pts: list[int | None]
    kept: _FrameArray
    error: str | None


def _stream_in_order(
    source: str, keep: Callable[[int], bool], convert: _Converter | None, errors: list[str], threads: _Threads
):
    """`(index, pts, image or None)` for every frame a sequential decode outputs; images only where `keep(index)`.
    A decoding error ends the stream and is appended to `errors`."""
    count = 0
    container = _open(source)
    try:
        stream = _video_stream(container, source, threads)
        if convert is not None:
            convert.frame_threaded = threads.frame and threads.count > 1
        try:
            for frame in container.decode(stream):
                yield count, frame.pts, convert(frame) if convert is not None and keep(count) else None
                count += 1
        except av.error.FFmpegError as failure:
            errors.append(f"decoding stopped after {count} frames ({failure})")
    finally:
        container.close()


def _decode_in_order(
    source: str, keep: set[int], convert: _Converter | None, threads: _Threads = _Threads()
) -> _Sequential:
    pts, kept, errors = [], _FrameArray(len(keep)), []
    for index, frame_pts, image in _stream_in_order(source, keep.__contains__, convert, errors, threads):
        pts.append(frame_pts)
        if image is not None:
            kept.add(index, image)
    return _Sequential(pts, kept, errors[0] if errors else None)


def monotonic_timeline(pts: list[int | None], step: int) -> tuple[list[int], bool]:
    """One increasing timeline for frames in output order: pts that go back a little (reordered, as packed B-frames
    give) are sorted within their run, a run that restarts far back (concatenated files) is moved after the one
    before it, and missing pts are filled in by `step`. Returns the timeline and whether anything was repaired."""
    runs: list[list[int | None]] = [[]]
    highest = None
    for value in pts:
        if value is not None and highest is not None and value < highest - _RESTART_STEPS * step:
            runs.append([])
            highest = None
        runs[-1].append(value)
        if value is not None:
            highest = value if highest is None else max(highest, value)
    timeline: list[int] = []
    for run in runs:
        known = sorted(v for v in run if v is not None)
        start = known[0] if known else 0
        offset = 0 if not timeline or start > timeline[-1] else timeline[-1] + step - start
        filled = iter(known)
        previous = None
        for value in run:
            current = next(filled) if value is not None else (previous + step if previous is not None else start)
            previous = current
            timeline.append(current + offset)
    for i in range(1, len(timeline)):  # duplicates left by missing pts
        timeline[i] = max(timeline[i], timeline[i - 1] + 1)
    return timeline, timeline != pts


class VideoReader:
    """A video file or URL, indexed once by a demux-only pass, then sampled as often as needed (the whole video or
    time windows of it) and decoded frame by frame. Every way in (`decode_video`, `video_timeline`, `iter_frames`)
    goes through it."""

    def __init__(
        self, path: str | os.PathLike, decode_threads: int | None = None, frame_threading: bool | None = None
    ):
        """`decode_threads`: threads per decode (default: `decode_thread_count()`); `frame_threading`: force frame
        threading on or off (default: chosen per read by the work, see the module's docstring)."""
        self.source = os.fspath(path)
        self.threads = decode_thread_count(decode_threads)
        self.frame_threading = frame_threading
        self.index = _index_packets(self.source)
        self.pts_reliable = self.index.pts_identify_frames()
        self._sorted_pts = sorted(self.index.pts) if self.pts_reliable else None
        self._order: tuple[list[int], list[str]] | None = None  # the repaired timeline of an in-order pass
        self._seconds_of: tuple[list[int], list[float]] | None = None  # (a timeline, its seconds)
        self._keyframe_pts: list[int] | None = None

    @property
    def _timeline(self) -> list[int]:
        """Every frame's pts (stream time base), increasing, in the numbering decoding reports."""
        if self.pts_reliable:
            return self._sorted_pts
        if self._order is None:
            decoded = _decode_in_order(self.source, set(), None, self._threads(in_order=True))
            self._order = self._repair(decoded)
        return self._order[0]

    def _threads(self, in_order: bool) -> _Threads:
        """Frame threading for reads that decode long runs in order, unless forced either way."""
        frame = in_order if self.frame_threading is None else self.frame_threading
        return _Threads(self.threads, frame)

    def _seek_threads(self, timeline: list[int], keyframes: list[int], targets: list[int], seek: bool) -> _Threads:
        runs = _frames_per_seek(timeline, keyframes, targets) >= FRAME_THREADING_RUN * self.threads
        return self._threads(in_order=not seek or runs)

    def _repair(self, decoded: "_Sequential") -> tuple[list[int], list[str]]:
        if not decoded.pts:
            raise VideoDecodingError(self.source, f"no frame could be decoded ({decoded.error or 'empty stream'})")
        known = sorted(p for p in self.index.pts if p is not None)
        step = int(np.median(np.diff(known))) if len(known) > 1 else 1
        timeline, repaired = monotonic_timeline(decoded.pts, max(step, 1))
        warnings = [decoded.error] if decoded.error else []
        if repaired:
            warnings.append(
                "presentation timestamps were missing, out of order or restarted: frames are numbered in "
                "decoding order on a repaired timeline"
            )
        return timeline, warnings

    def _seconds(self, timeline: list[int]) -> list[float]:
        """Seconds of each frame from the first; computed once per timeline (windows ask for it again and again)."""
        if self._seconds_of is None or self._seconds_of[0] is not timeline:
            self._seconds_of = (timeline, [round((p - timeline[0]) * self.index.time_base, 6) for p in timeline])
        return self._seconds_of[1]

    def _duration(self, timeline: list[int]) -> float:
        if len(timeline) > 1:
            return duration_from_timestamps(timeline) * self.index.time_base
        # one frame lasts the container's duration, else one frame at the stream's rate
        return self.index.container_duration or (1.0 / self.index.rate if self.index.rate else 1.0)

    @property
    def timeline(self) -> VideoTimeline:
        timeline = self._timeline
        warnings = list(self.index.errors) + (self._order[1] if self._order else [])
        return VideoTimeline(self._seconds(timeline), self._duration(timeline), warnings)

    def _choose(self, timeline: list[int], num_frames, fps, start, end) -> list[int]:
        seconds = self._seconds(timeline)
        if start is None and end is None:
            return sample_frame_indices(seconds, num_frames, fps)
        # Seconds increase: a window's frames are one slice, found by bisection (windows of long videos add up).
        first = bisect.bisect_left(seconds, start or 0.0)
        stop = bisect.bisect_left(seconds, end) if end is not None else len(seconds)
        if first >= stop:
            raise EmptyWindowError(f"No frame of '{self.source}' lies in [{start}, {end}) s")
        return [first + j for j in sample_frame_indices(seconds[first:stop], num_frames, fps)]

    def _position(self, timeline: list[int], pts: int) -> int | None:
        """The index of the frame with this pts in the (increasing) timeline, or None."""
        i = bisect.bisect_left(timeline, pts)
        return i if i < len(timeline) and timeline[i] == pts else None

    def sample(
        self,
        num_frames: int | None = None,
        mode: DecodeMode = "exact",
        fps: float | None = None,
        shortest_edge: int | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> DecodedVideo:
        """`decode_video` on this video, optionally within the time window `[start, end)` seconds (frames keep
        their indices and times in the whole video)."""
        if mode not in ("exact", "keyframes"):
            raise ValueError(f"mode must be 'exact' or 'keyframes', got {mode!r}")
        if num_frames is None and fps is None:
            raise ValueError("Give num_frames or fps")
        video, convert = self._sample(num_frames, mode, fps, shortest_edge, start, end)
        if convert.damaged and convert.frame_threaded:
            with self._plain_threading():  # concealed damage differs by threading: the plain decode's is the reference
                video, _ = self._sample(num_frames, mode, fps, shortest_edge, start, end)
        return video

    @contextlib.contextmanager
    def _plain_threading(self):
        previous, self.frame_threading = self.frame_threading, False
        try:
            yield
        finally:
            self.frame_threading = previous

    def _sample(self, num_frames, mode, fps, shortest_edge, start, end) -> tuple[DecodedVideo, _Converter]:
        if self.pts_reliable:
            for seek in (True, False):
                convert = _Converter(shortest_edge)
                try:
                    return self._sample_by_pts(num_frames, fps, mode, convert, seek, start, end), convert
                except _Unreliable as reason:
                    if not reason.seek:
                        self.pts_reliable = False
                        break
        convert = _Converter(shortest_edge)
        return self._sample_in_order(num_frames, fps, convert, start, end), convert

    def _sample_by_pts(self, num_frames, fps, mode, convert, seek: bool, start, end) -> DecodedVideo:
        timeline = self._timeline
        chosen = self._choose(timeline, num_frames, fps, start, end)
        keyframes = self._keyframes(timeline)
        if mode == "keyframes":
            targets = sorted({_nearest(keyframes, timeline[i]) for i in chosen})
        else:
            targets = [timeline[i] for i in chosen]
        threads = (
            self._seek_threads(timeline, keyframes, targets, seek) if mode == "exact" else self._threads(not seek)
        )
        kept = _FrameArray(len(targets))
        for pts, image in _stream_by_pts(self.source, targets, keyframes, convert, seek, mode, threads):
            index = self._position(timeline, pts)
            if index is None:
                raise _Unreliable(f"decoded pts {pts} is not a frame of the index")
            kept.add(index, image)
        found = len(kept.indices)
        if mode == "exact" and found != len(targets) or not found:
            raise _Unreliable(f"{len(targets) - found} of {len(targets)} frames not found by their pts")
        warnings = list(self.index.errors)
        if found < len(chosen):  # keyframes mode: several sampled positions share their nearest keyframe
            warnings.append(
                f"keyframes mode gave {found} of the {len(chosen)} frames asked for (only "
                f"{found} distinct keyframes lie near them); exact mode gives all of them"
            )
        return self._assemble(timeline, *kept.take(kept.indices), convert, warnings)

    def _keyframes(self, timeline: list[int]) -> list[int]:
        if self._keyframe_pts is None:
            self._keyframe_pts = sorted(
                p for p, key in zip(self.index.pts, self.index.keyframe) if key and p is not None
            )
        return self._keyframe_pts or [timeline[0]]

    def _sample_in_order(self, num_frames, fps, convert: _Converter, start, end) -> DecodedVideo:
        """Every frame decoded in order, frames identified by output order. Without a known timeline the frames to
        keep are guessed from the packet count; when the decoder outputs another count, a second pass keeps the
        right ones."""
        threads = self._threads(in_order=True)
        if self._order is None:
            count = len(self.index.pts)
            guess = set(uniform_frame_indices(count, num_frames)) if fps is None and start is None else set()
            decoded = _decode_in_order(self.source, guess, convert, threads)
            self._order = self._repair(decoded)
        else:
            decoded = _Sequential([], _FrameArray(0), None)
        timeline = self._order[0]
        chosen = self._choose(timeline, num_frames, fps, start, end)
        if not set(chosen) <= set(decoded.kept.indices):
            decoded = _decode_in_order(self.source, set(chosen), convert, threads)
        frames, order = decoded.kept.take(chosen)
        if frames is None:
            raise VideoDecodingError(self.source, "none of the sampled frames could be decoded")
        return self._assemble(timeline, frames, order, convert, list(self.index.errors) + self._order[1])

    def _assemble(
        self, timeline: list[int], frames: np.ndarray, order: list[int], convert: _Converter, warnings: list[str]
    ) -> DecodedVideo:
        duration = self._duration(timeline)
        announced = self.index.container_duration
        # Audio a little longer than the video is normal; more than a quarter second or three frames is not.
        if announced and announced - duration > max(0.25, 3 * duration / len(timeline)):
            warnings.append(
                f"only {duration:.2f} s of the {announced:.2f} s the file announces could be decoded "
                "(truncated or damaged file)"
            )
        if convert.damaged:
            warnings.append(f"{convert.damaged} sampled frame(s) decoded with errors (damaged data, concealed)")
        seconds = self._seconds(timeline)
        return DecodedVideo(
            frames=frames,
            timestamps=[seconds[i] for i in order],
            frame_indices=order,
            total_num_frames=len(timeline),
            fps=len(timeline) / duration,
            duration=duration,
            width=frames.shape[2],
            height=frames.shape[1],
            rotation=convert.rotation,
            path=self.source,
            warnings=warnings,
            source_width=convert.upright[0] if convert.upright else None,
            source_height=convert.upright[1] if convert.upright else None,
        )

    def frames(self, indices: list[int], shortest_edge: int | None = None):
        """Yields `(index, image)` for the frames `indices`, one at a time: memory does not grow with how many are
        asked for. Same checks and fallbacks as `sample`."""
        convert = _Converter(shortest_edge)
        remaining = sorted(set(indices))
        if self.pts_reliable:
            timeline = self._timeline
            keyframes = self._keyframes(timeline)
            for seek in (True, False):
                targets = [timeline[i] for i in remaining]
                threads = self._seek_threads(timeline, keyframes, targets, seek)
                try:
                    for pts, image in _stream_by_pts(self.source, targets, keyframes, convert, seek, "exact", threads):
                        index = self._position(timeline, pts)
                        remaining.remove(index)
                        yield index, self._plain_if_damaged(index, image, convert, shortest_edge)
                    if not remaining:
                        return
                except _Unreliable as reason:
                    if not reason.seek:
                        break
        wanted = set(remaining)
        stream = _stream_in_order(self.source, wanted.__contains__, convert, [], self._threads(in_order=True))
        for frame_index, _, image in stream:
            if image is not None:
                yield frame_index, self._plain_if_damaged(frame_index, image, convert, shortest_edge)
            if frame_index >= remaining[-1]:
                return

    def _plain_if_damaged(self, index: int, image: np.ndarray, convert: _Converter, shortest_edge) -> np.ndarray:
        """`image`, or, when it was concealed under frame threading, the frame as a plain decode gives it."""
        if convert.frame_threaded and convert.damaged > convert.redecoded:
            convert.redecoded = convert.damaged
            with self._plain_threading():
                return next(self.frames([index], shortest_edge))[1]
        return image


def decode_video(
    path: str | os.PathLike,
    num_frames: int | None = None,
    mode: DecodeMode = "exact",
    fps: float | None = None,
    shortest_edge: int | None = None,
    *,
    decode_threads: int | None = None,
    frame_threading: bool | None = None,
) -> DecodedVideo:
    """Samples frames of a video file or URL (http, https, anything FFmpeg opens).

    Args:
        path: a video file or URL.
        num_frames: frames to sample uniformly over the whole video (`uniform_frame_indices`); a shorter video
            yields all its frames. (The package's default count is the video processor's `num_frames`.)
        mode: `"exact"` returns the frames at the sampled positions; `"keyframes"` returns the keyframes at or
            after the nearest keyframe packets instead (much faster, approximate positions, true indices and
            timestamps; repeated keyframes are dropped, so fewer frames may come back).
        fps: sample the frame showing at every `1 / fps` seconds instead, at most `num_frames` of them.
        shortest_edge: convert frames straight to this shortest edge (never enlarged): what a caller that resizes
            anyway needs, without holding full-size frames.
        decode_threads, frame_threading: see `VideoReader` (default: the cores this process may use, the threading
            the work calls for).

    Raises:
        VideoDecodingError: missing file, failing URL, directory, not a video, no video stream, no decodable frame.
        A truncated or damaged file is decoded as far as it goes: `DecodedVideo.warnings` says so.
    """
    return VideoReader(path, decode_threads, frame_threading).sample(num_frames, mode, fps, shortest_edge)


def video_timeline(path: str | os.PathLike) -> VideoTimeline:
    """Every frame's time, from the demux-only index (or, where pts cannot identify frames, a sequential pass)."""
    return VideoReader(path).timeline


def iter_frames(path: str | os.PathLike, indices: list[int], shortest_edge: int | None = None):
    """`VideoReader(path).frames(indices, shortest_edge)`."""
    return VideoReader(path).frames(indices, shortest_edge)


def _nearest(sorted_values: list[int], value: int) -> int:
    position = bisect.bisect_left(sorted_values, value)
    candidates = sorted_values[max(position - 1, 0) : position + 1]
    return min(candidates, key=lambda candidate: abs(candidate - value))


__all__ = [
    "EmptyWindowError",
    "VideoReader",
    "VideoTimeline",
    "video_timeline",
    "iter_frames",
    "DecodedVideo",
    "VideoDecodingError",
    "decode_video",
    "uniform_frame_indices",
    "sample_frame_indices",
    "monotonic_timeline",
    "output_size",
    "is_url",
    "check_plain_media",
    "video_source",
    "PLAIN_CONTAINERS",
    "announced_duration",
    "cpu_cores",
    "decode_thread_count",
]
