# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Summaries a person can use: subtitles (SRT/VTT), a contact sheet, a timeline strip and a highlight reel.

All times are the real seconds of `VideoSummary` keyframes (from decoded timestamps), measured from the video's
first frame, the same origin `decode_video` uses.
"""

import bisect
import json
import math
import os
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from processing.summary import VideoSummary
from processing.video_decoding import DecodedVideo, VideoDecodingError, _index_packets, _open, _to_rgb, _video_stream


# A sentence stays on screen this long after its last keyframe (and a VIDEO-task keyframe cue this long).
SUBTITLE_HOLD_SECONDS = 2.0
MIN_CUE_SECONDS = 0.5
THUMB_WIDTH = 320
TIMELINE_THUMB_HEIGHT = 48
LABEL_HEIGHT = 20
GAP = 4
KEYFRAME_COLOUR = (230, 40, 40)
SHEET_BACKGROUND = (24, 24, 24)
# Everything `export_summary` may write into a video's output folder.
OUTPUT_FILES = ("summary.json", "summary.srt", "summary.vtt", "contact_sheet.png", "timeline.png", "highlights.mp4")


@dataclass
class SubtitleCue:
    start: float
    end: float
    text: str


def subtitle_cues(summary: VideoSummary, duration: float, hold: float = SUBTITLE_HOLD_SECONDS) -> list[SubtitleCue]:
    """Times each sentence from its keyframes.

    Rules: a sentence with keyframes starts at its first keyframe and ends `hold` seconds after its last one, or at
    the next cue's start, or at the end of the video, whichever comes first. Sentences without keyframes (the TEXT
    task) share the free time between their neighbours equally (the whole video when none has keyframes). A summary
    without sentences (the VIDEO task) gets one cue per keyframe, "Keyframe N". Cues never start before the
    previous one and last at least `MIN_CUE_SECONDS`.
    """
    seconds = {keyframe.index: keyframe.seconds for keyframe in summary.keyframes}
    if not summary.sentences:
        spans = [(seconds[k.index], seconds[k.index] + hold) for k in summary.keyframes]
        texts = [f"Keyframe {n}" for n in range(1, len(spans) + 1)]
    else:
        # Model output can hold control characters, which break subtitle parsers.
        texts = ["".join(ch for ch in s.text if ch.isprintable()) for s in summary.sentences]
        spans = [
            (seconds[s.keyframes[0]], seconds[s.keyframes[-1]] + hold) if s.keyframes else None
            for s in summary.sentences
        ]
        _share_free_time(spans, duration)

    cues = []
    for i, (start, end) in enumerate(spans):
        start = max(start, cues[-1].start if cues else 0.0)
        following = [s for s, _ in spans[i + 1 :] if s > start]
        end = min(end, duration, following[0] if following else math.inf)
        cues.append(SubtitleCue(round(start, 3), round(max(end, start + MIN_CUE_SECONDS), 3), texts[i]))
    return cues


def _share_free_time(spans: list[tuple[float, float] | None], duration: float) -> None:
    """Fills each run of untimed spans (None) with equal parts of the time between its timed neighbours."""
    i = 0
    while i < len(spans):
        if spans[i] is not None:
            i += 1
            continue
        j = i
        while j < len(spans) and spans[j] is None:
            j += 1
        begin = spans[i - 1][1] if i > 0 else 0.0
        finish = spans[j][0] if j < len(spans) else duration
        begin = min(begin, finish)
        step = (finish - begin) / (j - i) if finish > begin else MIN_CUE_SECONDS
        for n in range(i, j):
            spans[n] = (begin + (n - i) * step, begin + (n - i + 1) * step)
        i = j


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(cues: list[SubtitleCue]) -> str:
    blocks = [
        f"{n}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n{c.text}\n" for n, c in enumerate(cues, start=1)
    ]
    return "\n".join(blocks)


def to_vtt(cues: list[SubtitleCue]) -> str:
    blocks = [f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n{c.text}\n" for c in cues]
    return "WEBVTT\n\n" + "\n".join(blocks)


def time_label(seconds: float) -> str:
    """`M:SS.s`, the label under contact-sheet thumbnails."""
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}"


def _thumbnail(frame: np.ndarray, width: int | None = None, height: int | None = None) -> Image.Image:
    image = Image.fromarray(frame)
    if width is not None:
        size = (width, max(1, round(image.height * width / image.width)))
    else:
        size = (max(1, round(image.width * height / image.height)), height)
    return image.resize(size, Image.Resampling.BICUBIC)


def contact_sheet(
    frames: np.ndarray, summary: VideoSummary, columns: int = 4, thumb_width: int = THUMB_WIDTH
) -> Image.Image | None:
    """The keyframes in a grid, in time order, each labelled with its time. `frames` are the sampled frames the
    summary's keyframe indices point into. Thumbnails are `thumb_width` wide (the frame's width when smaller);
    the sheet is `cols * w + (cols + 1) * GAP` by `rows * (h + LABEL_HEIGHT) + (rows + 1) * GAP`. None without
    keyframes."""
    if not summary.keyframes:
        return None
    width = min(thumb_width, frames.shape[2])
    thumbs = [_thumbnail(frames[k.index], width=width) for k in summary.keyframes]
    cols = min(columns, len(thumbs))
    rows = math.ceil(len(thumbs) / cols)
    cell_w, cell_h = thumbs[0].width, thumbs[0].height + LABEL_HEIGHT
    size = (cols * cell_w + (cols + 1) * GAP, rows * cell_h + (rows + 1) * GAP)
    sheet = Image.new("RGB", size, SHEET_BACKGROUND)
    draw, font = ImageDraw.Draw(sheet), ImageFont.load_default(size=14)
    for n, (thumb, keyframe) in enumerate(zip(thumbs, summary.keyframes)):
        x = GAP + (n % cols) * (cell_w + GAP)
        y = GAP + (n // cols) * (cell_h + GAP)
        sheet.paste(thumb, (x, y))
        draw.text((x + 2, y + thumb.height + 2), time_label(keyframe.seconds), fill="white", font=font)
    return sheet


def timeline_strip(frames: np.ndarray, summary: VideoSummary, thumb_height: int = TIMELINE_THUMB_HEIGHT) -> Image.Image:
    """All sampled frames side by side, keyframes framed and underlined in red. The strip is
    `n * w + (n + 1) * GAP` by `thumb_height + 3 * GAP`, `w` the thumbnail width at `thumb_height`."""
    thumbs = [_thumbnail(frame, height=thumb_height) for frame in frames]
    width = thumbs[0].width
    size = (len(thumbs) * width + (len(thumbs) + 1) * GAP, thumb_height + 3 * GAP)
    strip = Image.new("RGB", size, SHEET_BACKGROUND)
    draw = ImageDraw.Draw(strip)
    keyframes = {k.index for k in summary.keyframes}
    for n, thumb in enumerate(thumbs):
        x = GAP + n * (width + GAP)
        strip.paste(thumb, (x, GAP))
        if n in keyframes:
            draw.rectangle((x - 2, GAP - 2, x + width + 1, GAP + thumb_height + 1), outline=KEYFRAME_COLOUR, width=2)
            draw.rectangle((x, GAP * 2 + thumb_height, x + width - 1, GAP * 3 + thumb_height - 1), fill=KEYFRAME_COLOUR)
    return strip


def highlight_windows(
    seconds: list[float], duration: float, before: float = 1.0, after: float = 2.0
) -> list[tuple[float, float]]:
    """`[t - before, t + after)` around each keyframe time, clipped to the video and merged where they overlap."""
    windows: list[tuple[float, float]] = []
    for t in sorted(seconds):
        start, end = max(0.0, t - before), min(duration, t + after)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], end))
        else:
            windows.append((start, end))
    return windows


def write_highlights(
    source: str | os.PathLike, windows: list[tuple[float, float]], out_path: str | os.PathLike
) -> dict:
    """Cuts `windows` (seconds from the first frame) out of `source` into one H.264 mp4, in order, at the source's
    frame rate; the audio of the same windows is kept (AAC) when the source has audio. Returns
    `{"num_frames", "duration", "has_audio"}` of the written file.

    A frame belongs to a window when its presentation time `t` has `start <= t < end`; each window's audio is cut
    to exactly its frames' duration, so sound stays in sync across cuts.
    """
    source = os.fspath(source)
    if not windows:
        raise ValueError("No highlight windows: the summary has no keyframes")
    pts, keyframes, time_base = _index_packets(source)
    origin = pts[0]
    seconds = [(p - origin) * time_base for p in pts]
    container = _open(source)
    try:
        video = _video_stream(container, source)
        rate = video.average_rate or Fraction(len(pts) / (seconds[-1] + 1e-9)).limit_denominator(1001)
        audio = container.streams.audio[0] if container.streams.audio else None
        picked = [[p for p, t in zip(pts, seconds) if start <= t < end] for start, end in windows]
        picked = [chunk for chunk in picked if chunk]
        if not picked:
            raise ValueError(f"No frame of '{source}' falls inside the highlight windows {windows}")
        images = _decode_chunks(container, video, picked, keyframes, source)
        # Audio is cut on the container clock (absolute pts), which both streams share.
        clip_audio = (
            [_cut_audio(container, audio, chunk[0] * time_base, len(chunk) / rate) for chunk in picked]
            if audio is not None
            else None
        )
    except av.error.FFmpegError as error:
        raise VideoDecodingError(source, f"corrupt or truncated stream ({error})") from error
    finally:
        container.close()

    height, width = (d - d % 2 for d in images[0].shape[:2])  # yuv420p needs even sizes
    with av.open(os.fspath(out_path), mode="w") as output:
        stream = output.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        audio_out = output.add_stream("aac", rate=audio.rate, layout=audio.layout.name) if clip_audio else None
        for n, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:height, :width]), format="rgb24")
            frame.pts = n
            frame.time_base = 1 / rate
            output.mux(stream.encode(frame))
        output.mux(stream.encode())
        if audio_out is not None:
            _encode_audio(output, audio_out, np.concatenate(clip_audio, axis=1))
    return {"num_frames": len(images), "duration": float(len(images) / rate), "has_audio": clip_audio is not None}


def _decode_chunks(container, stream, chunks: list[list[int]], keyframes: list[int], source: str) -> list[np.ndarray]:
    images = []
    for chunk in chunks:
        wanted = set(chunk)
        container.seek(keyframes[max(bisect.bisect_right(keyframes, chunk[0]) - 1, 0)], stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.pts in wanted:
                images.append(_to_rgb(frame)[0])
                wanted.discard(frame.pts)
            if frame.pts is not None and frame.pts >= chunk[-1]:
                break
        if wanted:
            raise VideoDecodingError(source, f"{len(wanted)} highlight frames could not be decoded")
    return images


def _cut_audio(container, stream, start: float, length: float) -> np.ndarray:
    """`length` seconds of planar float audio from `start` (absolute stream seconds), zero-padded at the end."""
    rate = stream.rate
    resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=rate)
    container.seek(max(0, int(start / stream.time_base) - 1), stream=stream, backward=True)
    wanted = round(length * rate)
    first_sample = round(start * rate)
    channels = stream.codec_context.channels
    out = np.zeros((channels, wanted), dtype=np.float32)
    filled = 0
    for frame in container.decode(stream):
        if frame.pts is None:
            continue
        frame_start = round(frame.pts * stream.time_base * rate)
        for resampled in resampler.resample(frame):
            samples = resampled.to_ndarray()
            offset = first_sample - frame_start  # samples of this frame before the window
            if offset >= samples.shape[1]:
                frame_start += samples.shape[1]
                continue
            take = samples[:, max(offset, 0) :]
            begin = max(-offset, 0)
            n = min(take.shape[1], wanted - begin)
            if n > 0:
                out[:, begin : begin + n] = take[:, :n]
                filled = max(filled, begin + n)
            frame_start += samples.shape[1]
        if filled >= wanted:
            break
    return out


def _encode_audio(output, stream, samples: np.ndarray) -> None:
    for start in range(0, samples.shape[1], 1024):
        chunk = np.ascontiguousarray(samples[:, start : start + 1024])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=stream.layout.name)
        frame.sample_rate, frame.pts = stream.rate, start
        output.mux(stream.encode(frame))
    output.mux(stream.encode())


def export_summary(
    summary: VideoSummary,
    video: DecodedVideo,
    out_dir: str | os.PathLike,
    extra: dict | None = None,
    highlights: bool = False,
    highlight_before: float = 1.0,
    highlight_after: float = 2.0,
) -> dict:
    """Writes the output set of `v2xum summarize` for one video into `out_dir` (created if needed):

    - `summary.json`: `summary.to_dict()` plus `video` (path, duration, fps, size, frame counts), `files`, and
      whatever `extra` holds (the command adds `model` and `settings`);
    - `summary.srt`, `summary.vtt`: `subtitle_cues` in both formats;
    - `contact_sheet.png` and, with `highlights=True`, `highlights.mp4`: only when there are keyframes;
    - `timeline.png`.

    `video` is the decoded video the summary was made from (its frames are the ones keyframe indices point to).
    Existing files of these names are replaced; nothing else in `out_dir` is touched. Returns the JSON record.
    """
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    for name in OUTPUT_FILES:  # a stale file from an earlier run must not pass for this run's output
        if os.path.isfile(os.path.join(out_dir, name)):
            os.remove(os.path.join(out_dir, name))
    cues = subtitle_cues(summary, video.duration)
    files = {"srt": "summary.srt", "vtt": "summary.vtt", "timeline": "timeline.png"}
    with open(os.path.join(out_dir, "summary.srt"), "w", encoding="utf-8") as f:
        f.write(to_srt(cues))
    with open(os.path.join(out_dir, "summary.vtt"), "w", encoding="utf-8") as f:
        f.write(to_vtt(cues))
    timeline_strip(video.frames, summary).save(os.path.join(out_dir, "timeline.png"))
    sheet = contact_sheet(video.frames, summary)
    if sheet is not None:
        sheet.save(os.path.join(out_dir, "contact_sheet.png"))
        files["contact_sheet"] = "contact_sheet.png"
    if highlights and summary.keyframes:
        windows = highlight_windows([k.seconds for k in summary.keyframes], video.duration, highlight_before,
                                    highlight_after)
        write_highlights(video.path, windows, os.path.join(out_dir, "highlights.mp4"))
        files["highlights"] = "highlights.mp4"
    files["json"] = "summary.json"
    record = {
        **summary.to_dict(),
        "video": {
            "path": video.path,
            "duration": video.duration,
            "fps": video.fps,
            "width": video.width,
            "height": video.height,
            "total_num_frames": video.total_num_frames,
            "num_sampled_frames": len(video.frames),
        },
        **(extra or {}),
        "files": files,
    }
    with open(os.path.join(out_dir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2, ensure_ascii=False)
    return record


__all__ = [
    "export_summary",
    "OUTPUT_FILES",
    "SubtitleCue",
    "subtitle_cues",
    "to_srt",
    "to_vtt",
    "time_label",
    "contact_sheet",
    "timeline_strip",
    "highlight_windows",
    "write_highlights",
    "SUBTITLE_HOLD_SECONDS",
]
