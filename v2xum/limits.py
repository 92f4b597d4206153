# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""How much work one request may ask for, as data in one place: the command line's generous limits (each raised by
a flag), and the strict ones of a public app or server. Over a limit is a `LimitError` that says the number and the
limit, before any work starts; nothing is ever sized by what a request asks (sampling and windows are computed
lazily), so no request can exhaust memory on the way to that error."""

import math
from dataclasses import dataclass, replace

from processing.timeline import window_spans


class LimitError(ValueError):
    """A request asks for more than its limits allow."""


@dataclass(frozen=True)
class Limits:
    """Per video: `max_video_minutes` of it, `max_windows` time windows, `max_frames` decoded frames (all windows
    together), sampling at most `max_fps` frames a second, windows of at least `min_window_seconds`; per upload,
    `max_upload_mb`. None: no limit."""

    max_video_minutes: float | None = None
    max_windows: int | None = None
    max_frames: int | None = None
    max_fps: float | None = None
    min_window_seconds: float | None = None
    max_upload_mb: float | None = None

    def with_overrides(self, **values) -> "Limits":
        """These limits with the given ones replaced (None values keep the current ones)."""
        return replace(self, **{key: value for key, value in values.items() if value is not None})

    def check_request(self, fps: float | None = None, window_seconds: float | None = None) -> None:
        """What a request asks, before any video is read."""
        _check(fps, self.max_fps, "frames per second", "at most", lambda v, limit: v <= limit)
        _check(window_seconds, self.min_window_seconds, "window seconds", "at least", lambda v, limit: v >= limit)

    def check_video(self, duration: float, num_frames: int, window_seconds: float | None = None) -> None:
        """A video of `duration` seconds, `num_frames` per pass (per window with `window_seconds`)."""
        minutes = duration / 60
        _check(minutes, self.max_video_minutes, "minutes of video", "at most", lambda v, limit: v <= limit, ".1f")
        windows = len(window_spans(duration, window_seconds)) if window_seconds else 1
        _check(
            windows,
            self.max_windows,
            f"windows of {window_seconds:g} s" if window_seconds else "windows",
            "at most",
            lambda v, limit: v <= limit,
        )
        _check(windows * num_frames, self.max_frames, "frames to decode", "at most", lambda v, limit: v <= limit)

    def check_upload(self, size_bytes: int) -> None:
        _check(size_bytes / 2**20, self.max_upload_mb, "MB uploaded", "at most", lambda v, limit: v <= limit, ".1f")


def _check(value, limit, what: str, bound: str, within, spec: str = "g") -> None:
    if value is None or limit is None or within(value, limit):
        return
    shown = f"{value:{spec}}" if isinstance(value, float) and math.isfinite(value) else f"{value:,}"
    raise LimitError(f"{shown} {what} asked for; the limit is {bound} {limit:,g}")


# The command line: a person's own machine and files; limits only stop what cannot have been meant.
LOCAL_LIMITS = Limits(max_windows=100_000, max_frames=10_000_000)
# A public app or server: one request must not take the machine.
PUBLIC_LIMITS = Limits(
    max_video_minutes=60,
    max_windows=720,
    max_frames=20_000,
    max_fps=10,
    min_window_seconds=5,
    max_upload_mb=1024,
)


__all__ = ["Limits", "LimitError", "LOCAL_LIMITS", "PUBLIC_LIMITS"]
