# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Videos whose frames carry their own index, for tests and benchmarks that must check exact frames.

Each frame shows its index in binary as `NUM_BITS` vertical bands (white = 1), bold enough to survive lossy coding.
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
) -> str:
    """Encodes `num_frames` numbered frames.

    Args:
        pts_seconds: explicit presentation time of each frame (a variable-frame-rate video); default `i / fps`.
        rotation: display rotation written as container metadata (the stored frames stay unrotated).
        audio: add a 440 Hz mono AAC track as long as the video.
        noise: add per-pixel noise (a realistic bitrate for benchmarks).
    """
    path = os.fspath(path)
    rng = np.random.default_rng(0) if noise else None
    with av.open(path, mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.gop_size = gop
        if codec in ("libx264", "h264"):
            stream.options = {"crf": str(crf), "preset": "veryfast", "bf": "0"}
        if pts_seconds is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        audio_stream = container.add_stream("aac", rate=16000, layout="mono") if audio else None

        for index in range(num_frames):
            frame = av.VideoFrame.from_ndarray(numbered_frame(index, width, height, rng), format="rgb24")
            if pts_seconds is not None:
                frame.pts, frame.time_base = round(pts_seconds[index] * 1000), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())

        if audio_stream is not None:
            seconds = pts_seconds[-1] + 1 / fps if pts_seconds is not None else num_frames / fps
            samples = np.sin(2 * np.pi * 440 * np.arange(int(seconds * 16000)) / 16000).astype(np.float32)
            for start in range(0, len(samples), 1024):
                chunk = samples[start : start + 1024][None, :]
                audio_frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                audio_frame.sample_rate, audio_frame.pts = 16000, start
                container.mux(audio_stream.encode(audio_frame))
            container.mux(audio_stream.encode())
    return path


__all__ = ["numbered_frame", "read_frame_number", "write_numbered_video", "NUM_BITS"]
