# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Test videos for this package's tests, benchmarks and users' CI, made offline in seconds: videos whose frames carry
their own index, so that exact frames can be checked by their pixels, natural-like footage for benchmarks, and
damaged variants (concatenated, truncated). Tiny random checkpoints are in `v2xum.tiny_models`.

Each numbered frame shows its index in binary as `NUM_BITS` vertical bands (white = 1), bold enough to survive lossy
coding.
"""

import os
from fractions import Fraction

import av
import numpy as np


NUM_BITS = 14


def numbered_frame(index: int, width: int, height: int, noise: np.random.Generator | None = None) -> np.ndarray:
    """An RGB frame whose vertical bands encode `index`; a red square in the top-left corner marks orientation."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    edges = np.linspace(0, width, NUM_BITS + 1).astype(int)
    for bit in range(NUM_BITS):
        if index >> bit & 1:
            image[:, edges[bit] : edges[bit + 1]] = 255
    corner = max(2, min(width, height) // 8)
    image[:corner, :corner] = (255, 0, 0)
    if noise is not None:
        image = np.clip(image.astype(np.int16) + noise.integers(-20, 21, image.shape), 0, 255).astype(np.uint8)
    return image


def read_frame_number(image: np.ndarray) -> int:
    """Inverse of `numbered_frame` for an upright RGB frame (the corner marker is ignored)."""
    height, width = image.shape[:2]
    edges = np.linspace(0, width, NUM_BITS + 1).astype(int)
    rows = image[height // 4 :, :, 1].astype(float)  # green channel, below the red marker
    return sum(1 << bit for bit in range(NUM_BITS) if rows[:, edges[bit] : edges[bit + 1]].mean() > 127)


TONE_BASE_HZ, TONE_STEP_HZ = 300.0, 100.0


def tone_pitch(seconds: float) -> float:
    """The pitch of `write_numbered_video`'s audio at a time: it steps up every second, so sync can be measured."""
    return TONE_BASE_HZ + TONE_STEP_HZ * (int(seconds) % 8)


def write_numbered_video(
    path: str | os.PathLike,
    num_frames: int,
    fps: int = 30,
    width: int = 160,
    height: int = 120,
    codec: str = "libx264",
    gop: int = 30,
    pts_seconds: list[float] | None = None,
    rotation: int = 0,
    audio: bool = False,
    pix_fmt: str = "yuv420p",
    noise: bool = False,
    crf: int = 23,
    container_format: str | None = None,
    bframes: int = 0,
    first_number: int = 0,
) -> str:
    """Encodes `num_frames` numbered frames (`first_number`, `first_number + 1`, ...).

    Args:
        pts_seconds: explicit presentation time of each frame (a variable-frame-rate video); default `i / fps`.
        rotation: display rotation written as container metadata (the stored frames stay unrotated).
        audio: add a mono AAC track as long as the video, a tone whose pitch steps every second (`tone_pitch`).
        noise: add per-pixel noise (a realistic bitrate for benchmarks).
        container_format: e.g. `"mpegts"`, `"avi"`, `"matroska"` (default: from the file name).
        bframes: B-frames between reference frames (x264's default is 3; 0 keeps decode order = display order).
    """
    path = os.fspath(path)
    rng = np.random.default_rng(0) if noise else None
    with av.open(path, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.gop_size = gop
        if codec in ("libx264", "h264"):
            stream.options = {"crf": str(crf), "preset": "veryfast", "bf": str(bframes)}
        elif bframes:
            stream.options = {"bf": str(bframes)}
        if pts_seconds is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        audio_stream = container.add_stream("aac", rate=16000, layout="mono") if audio else None

        for index in range(num_frames):
            image = numbered_frame(first_number + index, width, height, rng)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if pts_seconds is not None:
                frame.pts, frame.time_base = round(pts_seconds[index] * 1000), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())

        if audio_stream is not None:
            seconds = pts_seconds[-1] + 1 / fps if pts_seconds is not None else num_frames / fps
            times = np.arange(int(seconds * 16000)) / 16000
            pitch = TONE_BASE_HZ + TONE_STEP_HZ * (times.astype(int) % 8)
            samples = (0.5 * np.sin(2 * np.pi * np.cumsum(pitch) / 16000)).astype(np.float32)
            for start in range(0, len(samples), 1024):
                chunk = samples[start : start + 1024][None, :]
                audio_frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                audio_frame.sample_rate, audio_frame.pts = 16000, start
                container.mux(audio_stream.encode(audio_frame))
            container.mux(audio_stream.encode())
    return path


def write_natural_video(
    path: str | os.PathLike,
    seconds: float,
    fps: int = 30,
    width: int = 1280,
    height: int = 720,
    gop: int = 250,
    bframes: int = 3,
    container_format: str | None = None,
    preset: str = "veryfast",
    seed: int = 0,
    encoder_threads: int = 1,
) -> str:
    """A video with natural-like content for benchmarks: a camera panning over a smooth random texture with fine
    grain, and discs moving across it, so every frame differs and codecs spend real bits (unlike flat colour).
    x264 with GOP `gop` and `bframes` B-frames (250 and 3 are x264's defaults); `preset` only trades encoding speed.
    One encoder thread gives one slice per frame, as camera footage has (x264's sliced threads would cut each frame
    into slices that a decoder's slice threading could share out)."""
    from PIL import Image as PILImage

    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 40 + 2, width // 40 + 2, 3), dtype=np.uint8)
    texture = np.asarray(PILImage.fromarray(coarse).resize((width * 2, height * 2), PILImage.BICUBIC), dtype=np.int16)
    grain = rng.integers(-10, 11, (height * 2, width * 2, 1), dtype=np.int16)  # fine detail that pans with the scene
    texture = np.clip(texture + grain, 0, 255).astype(np.uint8)
    discs = [
        (
            rng.uniform(0, width),
            rng.uniform(0, height),
            rng.uniform(-6, 6),
            rng.uniform(-4, 4),
            int(rng.integers(20, 70)),
            rng.integers(0, 256, 3),
        )
        for _ in range(4)
    ]
    yy, xx = np.ogrid[:height, :width]
    with av.open(os.fspath(path), mode="w", format=container_format) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt, stream.gop_size = width, height, "yuv420p", gop
        stream.options = {"preset": preset, "bf": str(bframes), "crf": "23", "threads": str(encoder_threads)}
        for n in range(int(seconds * fps)):
            x = int((width / 2) * (1 + np.sin(n / (fps * 7.0))))
            y = int((height / 2) * (1 + np.sin(n / (fps * 11.0))))
            image = texture[y : y + height, x : x + width].copy()
            for cx, cy, vx, vy, radius, colour in discs:
                px, py = int((cx + vx * n) % width), int((cy + vy * n) % height)
                box = (slice(max(py - radius, 0), py + radius), slice(max(px - radius, 0), px + radius))
                inside = (yy[box[0]] - py) ** 2 + (xx[:, box[1]] - px) ** 2 < radius**2
                image[box][inside] = colour
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return os.fspath(path)


def concatenate_files(parts: list[str | os.PathLike], path: str | os.PathLike) -> str:
    """Byte-concatenates files (MPEG-TS parts play as one stream whose timestamps restart at each part)."""
    with open(path, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                out.write(f.read())
    return os.fspath(path)


def truncate_file(source: str | os.PathLike, path: str | os.PathLike, fraction: float) -> str:
    """The first `fraction` of `source`'s bytes, as a download or copy cut short leaves it."""
    with open(source, "rb") as f:
        data = f.read()
    with open(path, "wb") as out:
        out.write(data[: int(len(data) * fraction)])
    return os.fspath(path)


def reference_frames(path: str | os.PathLike) -> list[tuple[int | None, np.ndarray]]:
    """A plain sequential PyAV decode: `(pts, RGB frame)` for every frame in output order (upright not applied):
    the reference exact decoding is checked against."""
    with av.open(os.fspath(path)) as container:
        return [(frame.pts, frame.to_ndarray(format="rgb24")) for frame in container.decode(video=0)]


__all__ = [
    "numbered_frame",
    "read_frame_number",
    "write_numbered_video",
    "write_natural_video",
    "concatenate_files",
    "truncate_file",
    "reference_frames",
    "tone_pitch",
    "NUM_BITS",
]
