# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Stage-1 (alignment) data: captions of short clips or of single frames, one JSON object per line.

```
{"video": "videos/a.mp4", "start": 1.5, "end": 3.2, "caption": "A large red circle moves left."}   # a clip
{"video": "videos/a.mp4", "frame": 2.35, "caption": "Only the background is visible."}          # one frame
```

Times are seconds of the video (`frame`: the frame on screen at that time). Alignment teaches the projector (and
the new `[fNN]` rows) to say what frames show, with the language model frozen: the model sees the clip's frames
(`[f00]<frame>[f01]<frame>...`, the plain template: no system prompt, no instruction) and learns the caption.
Rows are validated like training rows (`v2xum.validation`: file, line, field, value), against each file's length.
StoryBoard writes `align.jsonl` beside its splits; `v2xum convert-data --alignment` makes one from VideoXum
segments or from the released V2Xum/VTimeLLM answers.
"""

import bisect
import os
from collections.abc import Iterable

from processing import DecodedVideo
from processing.timeline import GRID_SIZE, grid_to_seconds
from processing.video_decoding import VideoReader

from .training_data import KEYFRAME_TOLERANCE, load_rows, prepare_rows
from .validation import RowError, check_number, check_object, check_text


def _normalize_row(row, where: str) -> dict:
    """Checks one alignment row (a clip: `start` < `end`; or a `frame`; a non-empty caption) and returns it with
    every time field present (`None` where not given)."""
    row = check_object(row, where)
    check_text(row, "video", where)
    check_text(row, "caption", where)
    clip = row.get("start") is not None or row.get("end") is not None
    if clip == (row.get("frame") is not None):
        shown = {key: row.get(key) for key in ("start", "end", "frame")}
        raise RowError(
            where,
            "start/end/frame",
            shown,
            "give either 'start' and 'end' (a clip) or 'frame' (one frame), in seconds",
        )
    if clip:
        start = check_number(row.get("start"), where, "start", minimum=0)
        end = check_number(row.get("end"), where, "end", minimum=0)
        if end <= start:
            raise RowError(where, "end", end, f"must be after 'start' ({start})")
        times = {"start": float(start), "end": float(end), "frame": None}
    else:
        times = {"start": None, "end": None, "frame": float(check_number(row["frame"], where, "frame", minimum=0))}
    return {"video": row["video"], "caption": row["caption"].strip(), **times}


def _check_against_video(row: dict, where: str, video_duration: float | None) -> None:
    """A clip must start, and a frame lie, inside the video (its length from the file's header)."""
    if video_duration is None:
        return
    field = "frame" if row["frame"] is not None else "start"
    if row[field] > video_duration + KEYFRAME_TOLERANCE:
        raise RowError(where, field, row[field], f"past the end of {row['video']} ({video_duration:.2f} s)")


def prepare_alignment_rows(
    rows: list,
    video_root: str | os.PathLike | None = None,
    skip_missing: bool = False,
    source: str = "dataset",
    wheres: list[str] | None = None,
):
    """Alignment rows as a `datasets.Dataset` with columns video, caption, start, end, frame, source."""
    return prepare_rows(rows, _normalize_row, _check_against_video, video_root, skip_missing, source, wheres)


def load_alignment_examples(
    path: str | os.PathLike, video_root: str | os.PathLike | None = None, skip_missing: bool = False
):
    """`prepare_alignment_rows` for a JSONL file; relative videos start from `video_root` (default: its folder)."""
    return load_rows(path, prepare_alignment_rows, video_root, skip_missing)


def decode_alignment_clip(
    row: dict, num_frames: int, decode_mode: str = "exact", shortest_edge: int | None = None
) -> DecodedVideo:
    """The frames a row captions: `num_frames` sampled uniformly inside `[start, end)` (fewer when the clip has
    fewer), or the one frame on screen at `frame` seconds; indices and times are those of the whole video."""
    reader = VideoReader(row["video"])
    start, end = row["start"], row["end"]
    if row["frame"] is not None:
        timeline = reader.timeline
        index = max(bisect.bisect_right(timeline.timestamps, row["frame"]) - 1, 0)
        start, end, num_frames = timeline.timestamps[index], timeline.end_of(index), 1
    return reader.sample(num_frames, decode_mode, None, shortest_edge, start, end)


def alignment_rows_from_examples(examples: Iterable[dict]) -> list[dict]:
    """Alignment rows from training examples (`v2xum.training_data` format): each sentence with text and keyframes
    captions the span of its keyframes (a grid keyframe covers its cell, `duration / 100` seconds; a single keyframe
    in seconds is a frame). A sentence repeated under several tasks gives one row."""
    rows = {}
    for example in examples:
        for sentence in example["sentences"]:
            text = sentence["text"].strip()
            if not text:
                continue
            if sentence.get("grid"):
                cells, duration = sentence["grid"], example["duration"]
                row = {
                    "start": grid_to_seconds(min(cells), duration),
                    "end": grid_to_seconds(max(cells) + 1, duration) if max(cells) + 1 < GRID_SIZE else duration,
                }
            elif sentence.get("seconds"):
                times = sentence["seconds"]
                row = {"frame": times[0]} if len(set(times)) == 1 else {"start": min(times), "end": max(times)}
            else:
                continue
            row = {"video": example["video"], **row, "caption": text}
            rows[tuple(sorted(row.items()))] = row
    return list(rows.values())


def videoxum_alignment_rows(annotations: list[dict], video_of) -> list[dict]:
    """Alignment rows from VideoXum annotations: each sentence of `tsum` captions its `timestamps` segment.
    `video_of(video_id)` gives the video's path as training rows name it."""
    rows = []
    for entry in annotations:
        for (start, end), text in zip(entry["timestamps"], entry["tsum"]):
            if text.strip() and end > start:
                rows.append(
                    {
                        "video": video_of(entry["video_id"]),
                        "start": float(start),
                        "end": float(end),
                        "caption": text.strip(),
                    }
                )
    return rows


__all__ = [
    "load_alignment_examples",
    "prepare_alignment_rows",
    "decode_alignment_clip",
    "alignment_rows_from_examples",
    "videoxum_alignment_rows",
]
