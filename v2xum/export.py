# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Summaries a person can use: subtitles (SRT/VTT), a contact sheet, a timeline strip and a highlight reel.

All times are the real seconds of `VideoSummary` keyframes (from decoded timestamps), measured from the video's
first frame, the same origin `decode_video` uses.
"""

import json
import math
import os
from dataclasses import dataclass, replace
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from processing.summary import Keyframe, VideoSummary
from processing.timeline import uniform_frame_indices
from processing.video_decoding import DecodedVideo, iter_frames, video_timeline

from .outputs import is_output_file


# A sentence stays on screen this long after its last keyframe (and a VIDEO-task keyframe cue this long).
SUBTITLE_HOLD_SECONDS = 2.0
MIN_CUE_SECONDS = 0.5
THUMB_WIDTH = 320
# Frames decoded for the exports need no more than this shortest edge (a 320 px wide thumbnail of any aspect).
EXPORT_SHORTEST_EDGE = 360
TIMELINE_THUMB_HEIGHT = 48
TIMELINE_MAX_THUMBS = 100  # a windowed summary's timeline shows at most this many keyframes
SHEET_PAGE = 48  # keyframes per contact-sheet page
LABEL_HEIGHT = 20
GAP = 4
KEYFRAME_COLOUR = (230, 40, 40)
SHEET_BACKGROUND = (24, 24, 24)
NO_REEL = "no highlight reel: the summary names no keyframes"


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


def srt_text(text: str) -> str:
    """Cue text for SRT, which has no escapes: `-->` (the timing arrow) is broken up, and `<`, `>` become `‹`, `›`
    so that players do not take a model's `<unk>` for a formatting tag and hide it."""
    return text.replace("-->", "->").replace("<", "‹").replace(">", "›")


def vtt_text(text: str) -> str:
    """Cue text for WebVTT: `&`, `<` and `>` as character references (which also keeps `-->` out of the text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_srt(cues: list[SubtitleCue]) -> str:
    blocks = [
        f"{n}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n{srt_text(c.text)}\n"
        for n, c in enumerate(cues, start=1)
    ]
    return "\n".join(blocks)


def to_vtt(cues: list[SubtitleCue]) -> str:
    blocks = [f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n{vtt_text(c.text)}\n" for c in cues]
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
    summary's keyframe indices point into (an array, or a dict holding at least the keyframes). Thumbnails are
    `thumb_width` wide (the frame's width when smaller);
    the sheet is `cols * w + (cols + 1) * GAP` by `rows * (h + LABEL_HEIGHT) + (rows + 1) * GAP`. None without
    keyframes."""
    if not summary.keyframes:
        return None
    width = min(thumb_width, frames[summary.keyframes[0].index].shape[1])
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


def contact_sheets(frames, summary: VideoSummary, per_page: int = SHEET_PAGE) -> list[Image.Image]:
    """`contact_sheet` in pages of `per_page` keyframes, so that hundreds of keyframes stay readable."""
    pages = [summary.keyframes[i : i + per_page] for i in range(0, len(summary.keyframes), per_page)]
    return [contact_sheet(frames, replace(summary, keyframes=page)) for page in pages]


def keyframe_images(summary: VideoSummary, video: DecodedVideo) -> dict[int, np.ndarray]:
    """`{keyframe index: image}`, decoded from the file by source frame at thumbnail size (the frames the model saw
    are at its input size, often smaller; a summary merged from time windows has no frames in memory at all)."""
    if not summary.keyframes:
        return {}
    if video.path is None:  # frames handed in without a file: the frames the model saw are all there is
        return {k.index: video.frames[k.index] for k in summary.keyframes}
    by_source = {k.frame_index: k.index for k in summary.keyframes}
    return {by_source[i]: image for i, image in iter_frames(video.path, sorted(by_source), EXPORT_SHORTEST_EDGE)}


def _keyframe_strip(images: dict[int, np.ndarray], summary: VideoSummary) -> Image.Image:
    """The timeline of a summary merged from windows: its keyframes (at most `TIMELINE_MAX_THUMBS`, evenly chosen)."""
    keyframes = [summary.keyframes[i] for i in uniform_frame_indices(len(summary.keyframes), TIMELINE_MAX_THUMBS)]
    marked = replace(summary, keyframes=[Keyframe(n, k.frame_index, k.seconds) for n, k in enumerate(keyframes)])
    return timeline_strip(np.stack([images[k.index] for k in keyframes]), marked)


def timeline_strip(
    frames: np.ndarray,
    summary: VideoSummary,
    thumb_height: int = TIMELINE_THUMB_HEIGHT,
    aspect: float | None = None,
) -> Image.Image:
    """All sampled frames side by side, keyframes framed and underlined in red. The strip is
    `n * w + (n + 1) * GAP` by `thumb_height + 3 * GAP`, `w` the thumbnail width at `thumb_height` for the video's
    `aspect` (width / height; default: the frames'), whatever size the frames were decoded at."""
    aspect = aspect or frames[0].shape[1] / frames[0].shape[0]
    width = max(1, round(aspect * thumb_height))
    thumbs = [Image.fromarray(frame).resize((width, thumb_height), Image.Resampling.BICUBIC) for frame in frames]
    size = (len(thumbs) * width + (len(thumbs) + 1) * GAP, thumb_height + 3 * GAP)
    strip = Image.new("RGB", size, SHEET_BACKGROUND)
    draw = ImageDraw.Draw(strip)
    keyframes = {k.index for k in summary.keyframes}
    for n, thumb in enumerate(thumbs):
        x = GAP + n * (width + GAP)
        strip.paste(thumb, (x, GAP))
        if n in keyframes:
            draw.rectangle((x - 2, GAP - 2, x + width + 1, GAP + thumb_height + 1), outline=KEYFRAME_COLOUR, width=2)
            draw.rectangle(
                (x, GAP * 2 + thumb_height, x + width - 1, GAP * 3 + thumb_height - 1), fill=KEYFRAME_COLOUR
            )
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


REEL_TIME_BASE = Fraction(1, 90000)  # MPEG's 90 kHz clock: any source frame time fits within 11 microseconds


def write_highlights(
    source: str | os.PathLike, windows: list[tuple[float, float]], out_path: str | os.PathLike
) -> dict:
    """Cuts `windows` (seconds from the first frame) out of `source` into one H.264 mp4, in order, with the
    source's audio (AAC) when it has some. Returns `{"num_frames", "duration", "has_audio"}` of the written file.

    A frame belongs to a window when its time `t` has `start <= t < end`. The reel keeps the source's timing: each
    frame lasts as long as it did in the source (variable frame rates stay variable; a header's wrong frame rate
    plays no part), so a window lasts from its first frame to the next frame after it. Each window's audio is cut
    to exactly that span on the same clock, so sound stays in sync across cuts. Frames and audio are decoded and
    encoded window by window: memory does not grow with the reel's length.
    """
    if not windows:
        raise ValueError("No highlight windows: the summary has no keyframes")
    timeline = video_timeline(source)
    spans = []
    for start, end in windows:
        picked = [i for i, t in enumerate(timeline.timestamps) if start <= t < end]
        if picked:
            spans.append((picked, timeline.timestamps[picked[0]], timeline.end_of(picked[-1])))
    if not spans:
        raise ValueError(f"No frame of '{source}' falls inside the highlight windows {windows}")
    with _ReelWriter(os.fspath(source), os.fspath(out_path)) as reel:
        for picked, begin, end in spans:
            reel.add_window(picked, timeline.timestamps, begin, end)
    return {"num_frames": reel.num_frames, "duration": reel.offset, "has_audio": reel.audio_in is not None}


class _ReelWriter:
    """The output reel and the source's audio, written one window at a time."""

    def __init__(self, source: str, out_path: str):
        self.source, self.out_path = source, out_path
        self.offset, self.num_frames, self.samples_written = 0.0, 0, 0

    def __enter__(self) -> "_ReelWriter":
        probe = av.open(self.source)
        self.origin = _video_origin(probe)  # the clock both streams share: video frame 0 is at this container time
        self.audio_in = probe if probe.streams.audio else None
        if self.audio_in is None:
            probe.close()
        self.output = av.open(self.out_path, mode="w")
        self.video_out = None
        self.audio_out = None
        if self.audio_in is not None:
            audio = self.audio_in.streams.audio[0]
            self.audio_out = self.output.add_stream("aac", rate=audio.rate, layout=audio.layout.name)
            self.resampler = av.AudioResampler(format="fltp", layout=audio.layout.name, rate=audio.rate)
            self.pending = np.zeros((self.audio_out.layout.nb_channels, 0), np.float32)
            self.total_samples = 0  # encoded + pending
        return self

    def __exit__(self, *exc) -> None:
        try:
            if exc[0] is None:
                if self.video_out is not None:
                    self.output.mux(self.video_out.encode())
                if self.audio_out is not None:
                    if self.pending.shape[1]:
                        self._encode_audio(self.pending)
                    self.output.mux(self.audio_out.encode())
        finally:
            self.output.close()
            if self.audio_in is not None:
                self.audio_in.close()

    def add_window(self, picked: list[int], timestamps: list[float], begin: float, end: float) -> None:
        for index, image in iter_frames(self.source, picked):
            self._encode_frame(image, self.offset + timestamps[index] - begin)
        if self.audio_out is not None:
            self._copy_audio(begin, end)
        self.offset += end - begin

    def _encode_frame(self, image: np.ndarray, seconds: float) -> None:
        if self.video_out is None:
            height, width = (d - d % 2 for d in image.shape[:2])  # yuv420p needs even sizes
            self.video_out = self.output.add_stream("libx264", rate=30)
            self.video_out.width, self.video_out.height, self.video_out.pix_fmt = width, height, "yuv420p"
            self.video_out.codec_context.time_base = REEL_TIME_BASE
            self.video_out.options = {"crf": "20", "preset": "veryfast"}
        width, height = self.video_out.width, self.video_out.height
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:height, :width]), format="rgb24")
        frame.pts, frame.time_base = round(seconds / REEL_TIME_BASE), REEL_TIME_BASE
        self.output.mux(self.video_out.encode(frame))
        self.num_frames += 1

    def _copy_audio(self, begin: float, end: float) -> None:
        """The source audio of `[begin, end)` (video seconds) at the reel's current offset, sample-exact: the
        window gets exactly the samples its span covers, silence where the source has none."""
        stream = self.audio_in.streams.audio[0]
        rate = stream.rate
        window_start = self.total_samples
        source_start = round((self.origin + begin) * rate)  # absolute sample numbers on the container clock
        count = round((self.offset + end - begin) * rate) - window_start
        self.audio_in.seek(max(0, int((self.origin + begin) / stream.time_base) - 1), stream=stream, backward=True)
        for frame in self.audio_in.decode(stream):
            if frame.pts is None:
                continue
            position = round(frame.pts * stream.time_base * rate)
            for resampled in self.resampler.resample(frame):
                samples = resampled.to_ndarray()
                low, high = max(source_start - position, 0), min(source_start + count - position, samples.shape[1])
                if high > low:
                    self._queue_audio(window_start + position + low - source_start, samples[:, low:high])
                position += samples.shape[1]
            if position >= source_start + count:
                break
        self._queue_audio(window_start + count, None)

    def _queue_audio(self, at: int, samples: np.ndarray | None) -> None:
        """Appends `samples` at reel sample `at` (silence fills a gap before it); encodes whole encoder frames."""
        channels = self.audio_out.layout.nb_channels
        gap = at - self.total_samples
        parts = [self.pending] + ([np.zeros((channels, gap), np.float32)] if gap > 0 else [])
        parts += [samples[:, max(-gap, 0) :]] if samples is not None else []
        self.pending = np.concatenate(parts, axis=1)
        self.total_samples = self.samples_written + self.pending.shape[1]
        size = self.audio_out.codec_context.frame_size or 1024
        while self.pending.shape[1] >= size:
            self._encode_audio(self.pending[:, :size])
            self.pending = self.pending[:, size:]

    def _encode_audio(self, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples), format="fltp", layout=self.audio_out.layout.name
        )
        frame.sample_rate, frame.pts = self.audio_out.rate, self.samples_written
        self.output.mux(self.audio_out.encode(frame))
        self.samples_written += samples.shape[1]


def _video_origin(container) -> float:
    """Container seconds of the first video frame (the origin of `VideoTimeline` seconds)."""
    stream = container.streams.video[0]
    for packet in container.demux(stream):
        if packet.pts is not None and packet.size:
            first = packet.pts
            break
    else:
        return 0.0
    container.seek(0)
    lowest = first
    for n, packet in enumerate(container.demux(stream)):  # B-frames: the first packet is not the earliest frame
        if packet.pts is not None and packet.size:
            lowest = min(lowest, packet.pts)
        if n > 64:
            break
    container.seek(0)
    return float(lowest * stream.time_base)


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
    for name in os.listdir(out_dir):  # a stale file from an earlier run must not pass for this run's output
        if is_output_file(name):
            os.remove(os.path.join(out_dir, name))
    cues = subtitle_cues(summary, video.duration)
    files = {"srt": "summary.srt", "vtt": "summary.vtt", "timeline": "timeline.png"}
    with open(os.path.join(out_dir, "summary.srt"), "w", encoding="utf-8") as f:
        f.write(to_srt(cues))
    with open(os.path.join(out_dir, "summary.vtt"), "w", encoding="utf-8") as f:
        f.write(to_vtt(cues))
    images = keyframe_images(summary, video)
    if summary.windows is None:
        width, height = video.source_size
        timeline_strip(video.frames, summary, aspect=width / height).save(os.path.join(out_dir, "timeline.png"))
    elif images:
        _keyframe_strip(images, summary).save(os.path.join(out_dir, "timeline.png"))
    else:
        files.pop("timeline")
    for page, sheet in enumerate(contact_sheets(images, summary), start=1):
        name = "contact_sheet.png" if page == 1 else f"contact_sheet-{page}.png"
        sheet.save(os.path.join(out_dir, name))
        files["contact_sheet" if page == 1 else f"contact_sheet-{page}"] = name
    notes = []
    if highlights and summary.keyframes:
        windows = highlight_windows(
            [k.seconds for k in summary.keyframes], video.duration, highlight_before, highlight_after
        )
        write_highlights(video.path, windows, os.path.join(out_dir, "highlights.mp4"))
        files["highlights"] = "highlights.mp4"
    elif highlights:
        notes.append(NO_REEL)
    files["json"] = "summary.json"
    record = {
        **summary.to_dict(),
        "warnings": [*summary.warnings, *notes],
        "video": {
            "path": video.path,
            "duration": video.duration,
            "fps": video.fps,
            "width": video.source_size[0],
            "height": video.source_size[1],
            "total_num_frames": video.total_num_frames,
            "num_sampled_frames": sum(w["frames"] for w in summary.windows) if summary.windows else len(video.frames),
        },
        **(extra or {}),
        "files": files,
    }
    with open(os.path.join(out_dir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2, ensure_ascii=False)
    return record


__all__ = [
    "export_summary",
    "NO_REEL",
    "srt_text",
    "vtt_text",
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
