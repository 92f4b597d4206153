# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Summaries as data: the keyframe/time contract shared by training and evaluation, and answer parsing."""

import re
import warnings
from dataclasses import asdict, dataclass, field
from typing import Literal

from .timeline import SampledFrames, uniform_frame_indices


SummaryTask = Literal["video", "text", "both"]
SUMMARY_TASKS = ("video", "text", "both")
TemporalPromptStyle = Literal["special", "text"]
# Temporal prompts have two digits up to this many frame tokens, three above it.
TWO_DIGIT_FRAMES = 100

# `[f03]` (special temporal tokens) or the released model's `[03, 04, 05]` (text).
_SPECIAL_REF = re.compile(r"\[f(\d+)\]")
_TEXT_REF = re.compile(r"\[\s*(\d+(?:\s*,\s*\d+)*)\s*\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def frame_token(index: int, style: TemporalPromptStyle = "special", num_frame_tokens: int = TWO_DIGIT_FRAMES) -> str:
    """The temporal prompt of sampled frame `index`: `[f03]` (one added token, `special`) or `[03]` (plain text, the
    released model's `text` style). A `special` model with more than 100 frame tokens spells three digits
    (`[f003]`..`[f999]`), so that existing two-digit checkpoints stay as they are."""
    if style != "special":
        return f"[{index:02d}]"
    return f"[f{index:03d}]" if num_frame_tokens > TWO_DIGIT_FRAMES else f"[f{index:02d}]"


def keyframe_reference(
    indices: list[int], style: TemporalPromptStyle = "special", num_frame_tokens: int = TWO_DIGIT_FRAMES
) -> str:
    """How an answer names keyframes: `[f03][f04]` (`special`) or the released model's `[03, 04]` (`text`)."""
    if style == "special":
        return "".join(frame_token(k, style, num_frame_tokens) for k in indices)
    return "[" + ", ".join(f"{k:02d}" for k in indices) + "]"


@dataclass
class Keyframe:
    """A keyframe: `index` among the sampled frames, `frame_index` in the source video, `seconds` from its start."""

    index: int
    frame_index: int
    seconds: float


@dataclass
class SummarySentence:
    """One sentence of the text summary and the keyframes it names (sampled indices, increasing); in a summary made
    by time windows, `window` is the number of the window it was said about."""

    text: str
    keyframes: list[int] = field(default_factory=list)
    window: int | None = None


@dataclass
class VideoSummary:
    """A parsed answer. `to_dict()` is the JSON schema:

    ```
    {"task": "video" | "text" | "both", "text": str, "raw_text": str,
     "sentences": [{"text": str, "keyframes": [int, ...], "window": int | null}],
     "keyframes": [{"index": int, "frame_index": int, "seconds": float}],
     "warnings": [str, ...],
     "windows": [{"start": float, "end": float, "frames": int}] | null}
    ```
    `text` is the summary without keyframe references; `keyframes` are unique and sorted by time. A summary made
    by time windows (`merge_window_summaries`) lists them; its keyframe `index` counts the sampled frames of all
    windows in order.
    """

    task: str
    text: str
    raw_text: str
    sentences: list[SummarySentence]
    keyframes: list[Keyframe]
    warnings: list[str] = field(default_factory=list)
    windows: list[dict] | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "VideoSummary":
        """Inverse of `to_dict` (for example a pipeline result or a saved `summary.json`); extra keys are ignored."""
        return cls(
            task=data["task"],
            text=data["text"],
            raw_text=data["raw_text"],
            sentences=[SummarySentence(s["text"], list(s["keyframes"]), s.get("window")) for s in data["sentences"]],
            keyframes=[Keyframe(k["index"], k["frame_index"], k["seconds"]) for k in data["keyframes"]],
            warnings=list(data.get("warnings", [])),
            windows=data.get("windows"),
        )


def _clean(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s+([.,!?;:])", r"\1", text)


def _index(digits: str) -> int:
    """A referenced frame number; one too long to be a frame (Python's `int` refuses 4301+ digits) is out of range."""
    digits = digits.strip()
    return int(digits) if len(digits) <= 9 else 10**9


def _references(text: str) -> list[tuple[int, int, list[int]]]:
    """`(start, end, indices)` of every keyframe reference in `text`, in order."""
    found = [(m.start(), m.end(), [_index(m.group(1))]) for m in _SPECIAL_REF.finditer(text)]
    found += [(m.start(), m.end(), [_index(x) for x in m.group(1).split(",")]) for m in _TEXT_REF.finditer(text)]
    return sorted(found)


def annotate_keyframe_times(text: str, timeline: SampledFrames) -> str:
    """`text` with each keyframe reference given its time in the video: `[f03]` -> `[f03 @ 12.4 s]`,
    `[03, 07]` -> `[03, 07 @ 1.2 s, 2.8 s]`; references outside `timeline` stay as they are (for streaming)."""

    def with_times(match: re.Match, indices: list[int]) -> str:
        if not all(0 <= i < len(timeline) for i in indices):
            return match.group(0)
        return f"{match.group(0)[:-1]} @ {', '.join(f'{timeline.to_seconds(i):.1f} s' for i in indices)}]"

    text = _SPECIAL_REF.sub(lambda m: with_times(m, [_index(m.group(1))]), text)
    return _TEXT_REF.sub(lambda m: with_times(m, [_index(x) for x in m.group(1).split(",")]), text)


def parse_summary(text: str, timeline: SampledFrames, task: str = "both") -> VideoSummary:
    """Parses a generated answer (either temporal prompt style) into a `VideoSummary`.

    Keyframe references outside the sampled frames or repeated are dropped with a warning; an answer without
    references is a valid text summary. Never raises on model output.
    """
    if task not in SUMMARY_TASKS:
        raise ValueError(f"task must be one of {SUMMARY_TASKS}, got {task!r}")
    notes: list[str] = []
    seen: set[int] = set()
    sentences: list[SummarySentence] = []
    pending: list[int] = []  # references found before any sentence text (e.g. a VIDEO-only answer)

    for chunk in _SENTENCE_END.split(text.strip()):
        keyframes = []
        for _, _, indices in _references(chunk):
            for index in indices:
                if not 0 <= index < len(timeline):
                    notes.append(f"dropped keyframe {index}: only {len(timeline)} frames were sampled")
                elif index in seen:
                    notes.append(f"dropped repeated keyframe {index}")
                else:
                    seen.add(index)
                    keyframes.append(index)
        sentence = _clean(_TEXT_REF.sub(" ", _SPECIAL_REF.sub(" ", chunk)))
        if re.search(r"\w", sentence):
            sentences.append(SummarySentence(sentence, sorted(pending + keyframes)))
            pending = []
        elif sentences:
            sentences[-1].keyframes = sorted(sentences[-1].keyframes + keyframes)
        else:
            pending += keyframes

    for note in notes:
        warnings.warn(note, stacklevel=2)
    keyframes = [Keyframe(index, timeline.frame_indices[index], timeline.to_seconds(index)) for index in sorted(seen)]
    return VideoSummary(
        task=task,
        text=" ".join(s.text for s in sentences),
        raw_text=text,
        sentences=sentences,
        keyframes=keyframes,
        warnings=notes,
    )


def render_answer(
    sentences: list[SummarySentence],
    style: TemporalPromptStyle = "special",
    task: str = "both",
    num_frame_tokens: int = TWO_DIGIT_FRAMES,
) -> str:
    """The training target for a summary (the inverse of `parse_summary`).

    `special`: `A man talks[f03][f04]. He pours water[f15].`: no space before a keyframe token, which byte-level
    BPE and SentencePiece tokenizers would spend a token of its own on; `text` (the released spelling):
    `A man talks [03, 04]. He pours water [15].`; the VIDEO task keeps only the references, the TEXT task only the
    sentences.
    """
    if task not in SUMMARY_TASKS:
        raise ValueError(f"task must be one of {SUMMARY_TASKS}, got {task!r}")
    if task == "video":
        return keyframe_reference(sorted({k for s in sentences for k in s.keyframes}), style, num_frame_tokens)
    parts = []
    for sentence in sentences:
        body = sentence.text.rstrip().rstrip(".")
        if task == "both" and sentence.keyframes:
            body += ("" if style == "special" else " ") + keyframe_reference(
                sentence.keyframes, style, num_frame_tokens
            )
        parts.append(body + ".")
    return " ".join(parts)


def merge_window_summaries(
    summaries: list[VideoSummary], windows: list[tuple[float, float, int]], max_keyframes: int | None = None
) -> VideoSummary:
    """One summary of a video from the summaries of its consecutive time windows (`(start, end, sampled frames)`
    each, in time order; keyframes already in the video's seconds and source frames).

    Sentences stay in time order, each knowing its window; keyframe indices count the sampled frames of all windows;
    keyframes are unique and increasing because windows do not overlap. With `max_keyframes`, the merged summary
    keeps at most that many, spread evenly: windows take turns (in time order) adding one keyframe each, and each
    window keeps its share evenly spaced among its own keyframes.
    """
    if len(summaries) != len(windows) or not summaries:
        raise ValueError(f"Got {len(summaries)} window summaries for {len(windows)} windows")
    shares = _even_shares([len(s.keyframes) for s in summaries], max_keyframes)
    sentences, keyframes, warnings, offset = [], [], [], 0
    for number, (summary, (start, end, frames), share) in enumerate(zip(summaries, windows, shares)):
        kept_positions = set(uniform_frame_indices(len(summary.keyframes), share)) if share else set()
        kept = {k.index: offset + k.index for n, k in enumerate(summary.keyframes) if n in kept_positions}
        keyframes += [Keyframe(kept[k.index], k.frame_index, k.seconds) for k in summary.keyframes if k.index in kept]
        for sentence in summary.sentences:
            sentences.append(
                SummarySentence(sentence.text, [kept[k] for k in sentence.keyframes if k in kept], number)
            )
        warnings += [f"window {number} ({start:.1f}-{end:.1f} s): {w}" for w in summary.warnings]
        offset += frames
    raw = "\n".join(f"[{start:.1f}-{end:.1f} s] {s.raw_text}" for s, (start, end, _) in zip(summaries, windows))
    return VideoSummary(
        task=summaries[0].task,
        text=" ".join(s.text for s in sentences if s.text),
        raw_text=raw,
        sentences=sentences,
        keyframes=keyframes,
        warnings=warnings,
        windows=[{"start": start, "end": end, "frames": frames} for start, end, frames in windows],
    )


def _even_shares(counts: list[int], budget: int | None) -> list[int]:
    """How many keyframes each window keeps: all without a budget; else windows take turns adding one."""
    if budget is None or sum(counts) <= budget:
        return list(counts)
    shares = [0] * len(counts)
    while sum(shares) < budget:
        for n, count in enumerate(counts):
            if shares[n] < count and sum(shares) < budget:
                shares[n] += 1
    return shares


__all__ = [
    "merge_window_summaries",
    "annotate_keyframe_times",
    "frame_token",
    "keyframe_reference",
    "Keyframe",
    "SummarySentence",
    "VideoSummary",
    "parse_summary",
    "render_answer",
    "SUMMARY_TASKS",
]
