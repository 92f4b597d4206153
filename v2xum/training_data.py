# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Training data for V2Xum: the example format, its validation, targets, and converters from VideoXum and the released
V2Xum/VTimeLLM JSON. The collator that turns examples into model inputs is `v2xum.collator`.

An example (one JSON object per line, or a `datasets.Dataset` row):

```
{"video": "clips/cooking.mp4",            # path, relative to the dataset's video root unless absolute
 "task": "both",                          # "video", "text" or "both"
 "sentences": [{"text": "A man cuts onions.", "seconds": [3.0, 4.1]},
               {"text": "He fries them.", "grid": [61, 62]}],   # keyframes in seconds, or on the 0-99 grid
 "duration": 20.0,                        # needed only for "grid" keyframes
 "query": null}                           # optional: focus of a query-driven summary
```

The target the model learns is rendered per video from the frames it actually sees: each keyframe time goes to the
nearest sampled frame (`SampledFrames.nearest`; grid index k means `grid_to_seconds(k, duration)`), duplicates are
dropped, and keyframes are kept strictly increasing over the whole answer, as constrained decoding generates them.
"""

import json
import os
import re
from collections.abc import Iterable

from modeling_v2xum.model_card import file_fingerprint
from processing import TASK_INSTRUCTIONS, VideoDecodingError
from processing.summary import (
    SUMMARY_TASKS,
    TWO_DIGIT_FRAMES,
    SummarySentence,
    frame_token,
    parse_summary,
    render_answer,
)
from processing.timeline import GRID_SIZE, SampledFrames, grid_to_seconds, seconds_to_grid
from processing.video_decoding import video_source, video_timeline

from .collection import VIDEO_SUFFIXES
from .validation import RowError, check_list, check_number, check_object, check_text, read_rows


class MissingVideosError(FileNotFoundError):
    """Videos named by a dataset are not on disk. `paths` lists all of them."""

    def __init__(self, paths: list[str]):
        self.paths = paths
        shown = "\n  ".join(paths[:20]) + (f"\n  ... and {len(paths) - 20} more" if len(paths) > 20 else "")
        super().__init__(
            f"{len(paths)} video(s) named by the dataset are missing (pass --skip_missing / skip_missing=True to "
            f"drop those examples):\n  {shown}"
        )


# A given `duration` may differ from the file's header by this much (headers round; containers pad) ...
DURATION_TOLERANCE = (0.5, 0.02)  # seconds, share of the duration
# ... and a keyframe may lie this far past the file's end (its last frame's time rounds the same way).
KEYFRAME_TOLERANCE = 0.1


def validate_example(example, where: str | int = "?") -> dict:
    """Checks one training row (types, ranges, required fields) and returns it; a `RowError` names `where` (file
    and line), the field and the value. Keyframes in `seconds` must lie inside a given `duration`."""
    where = where if isinstance(where, str) else f"Training example {where}"
    example = check_object(example, where)
    check_text(example, "video", where)
    task = check_text(example, "task", where, choices=SUMMARY_TASKS)
    check_text(example, "query", where, required=False)
    duration = example.get("duration")
    if duration is not None:
        check_number(duration, where, "duration", minimum=1e-6)
    sentences = check_list(example, "sentences", where, required=True)
    for n, sentence in enumerate(sentences):
        field = f"sentences[{n}]"
        if not isinstance(sentence, dict):
            raise RowError(where, field, sentence, "must be an object with a 'text' string")
        if not isinstance(sentence.get("text"), str):  # may be empty: a VIDEO answer's keyframes
            raise RowError(where, f"{field}.text", sentence.get("text"), "must be a string")
        seconds = check_list(sentence, "seconds", where, field=f"{field}.seconds")
        grid = check_list(sentence, "grid", where, field=f"{field}.grid")
        if seconds and grid:
            raise RowError(where, field, sentence, "gives both 'seconds' and 'grid' keyframes; give one")
        for k, value in enumerate(seconds):
            check_number(
                value,
                where,
                f"{field}.seconds[{k}]",
                minimum=0,
                maximum=None if duration is None else duration + KEYFRAME_TOLERANCE,
            )
        for k, value in enumerate(grid):
            check_number(value, where, f"{field}.grid[{k}]", minimum=0, maximum=GRID_SIZE - 1, integer=True)
        if grid and duration is None:
            raise RowError(where, "duration", None, "'grid' keyframes need the video's duration in seconds")
    if task != "text" and not any(s.get("seconds") or s.get("grid") for s in sentences):
        raise RowError(where, "sentences", "(no keyframes)", f"task '{task}' needs at least one keyframe")
    return example


def check_against_video(example: dict, where: str, video_duration: float | None) -> None:
    """The row's times against the file's real length (`video_timeline`: its packets, not what its header
    announces, which a truncated or re-muxed file gets wrong): a given `duration` must match it,
    and no keyframe may lie past its end."""
    if video_duration is None:
        return
    duration = example.get("duration")
    tolerance = max(DURATION_TOLERANCE[0], DURATION_TOLERANCE[1] * video_duration)
    if duration is not None and abs(duration - video_duration) > tolerance:
        raise RowError(where, "duration", duration, f"the video {example['video']} is {video_duration:.2f} s long")
    for n, sentence in enumerate(example["sentences"]):
        for k, value in enumerate(keyframe_seconds(sentence, duration)):
            if value > video_duration + KEYFRAME_TOLERANCE:
                field = f"sentences[{n}].seconds[{k}]" if sentence.get("seconds") else f"sentences[{n}].grid"
                raise RowError(
                    where, field, value, f"keyframe past the end of {example['video']} ({video_duration:.2f} s)"
                )


def resolve_video_path(video: str, video_root: str | os.PathLike | None) -> str:
    if os.path.isabs(video) or video_root is None:
        return video
    return os.path.join(os.fspath(video_root), video)


def find_missing_videos(examples: Iterable[dict], video_root: str | os.PathLike | None = None) -> list[str]:
    return sorted({p for e in examples if not os.path.isfile(p := resolve_video_path(e["video"], video_root))})


def _normalize_example(row: dict, where: str) -> dict:
    row = dict(validate_example(row, where))
    row["query"] = row.get("query")
    row["duration"] = None if row.get("duration") is None else float(row["duration"])
    row["sentences"] = [
        {"text": s["text"], "seconds": [float(t) for t in s.get("seconds") or []], "grid": list(s.get("grid") or [])}
        for s in row["sentences"]
    ]
    return row


def prepare_rows(
    rows: list,
    normalize,
    check,
    video_root: str | os.PathLike | None = None,
    skip_missing: bool = False,
    source: str = "dataset",
    wheres: list[str] | None = None,
):
    """Rows of a user's file (training examples, alignment captions) as a `datasets.Dataset`: each checked and
    normalized by `normalize(row, where)`, its video path resolved against `video_root`, missing videos listed
    (`MissingVideosError`) or dropped (`skip_missing`), and each row's times checked against its file's real
    length by `check(row, where, seconds)` (each file's header read once). The `source` column says where each row
    came from (`wheres`, default `"<source> row <n>"`). Videos are not decoded here."""
    import datasets

    if not rows:
        raise ValueError(f"{source} holds no rows")
    wheres = wheres or [f"{source} row {n}" for n in range(len(rows))]
    prepared = []
    for where, row in zip(wheres, rows):
        if isinstance(row, dict) and isinstance(row.get("video"), dict):  # a datasets.Video value
            try:
                row = {**row, "video": video_source(row["video"])}
            except TypeError as error:
                raise RowError(where, "video", row["video"], str(error)) from error
        row = normalize(row, where)
        row["video"] = resolve_video_path(row["video"], video_root)
        row["source"] = where
        prepared.append(row)
    missing = set(find_missing_videos(prepared))
    if missing and not skip_missing:
        raise MissingVideosError(sorted(missing))
    prepared = [row for row in prepared if row["video"] not in missing]
    if not prepared:
        raise ValueError(f"No row of {source} has its video on disk")
    lengths: dict[str, float | None] = {}  # a video named by several rows is read once
    for row in prepared:
        try:
            if row["video"] not in lengths:
                lengths[row["video"]] = video_timeline(row["video"]).duration
        except VideoDecodingError as error:
            raise ValueError(f"{row['source']}: 'video' = {row['video']!r}: {error.reason}") from error
        check(row, row["source"], lengths[row["video"]])
    return datasets.Dataset.from_list(prepared)


def prepare_examples(
    rows: list,
    video_root: str | os.PathLike | None = None,
    skip_missing: bool = False,
    source: str = "dataset",
    wheres: list[str] | None = None,
):
    """Training examples as a `datasets.Dataset` (`prepare_rows` with `validate_example` and
    `check_against_video`)."""
    return prepare_rows(rows, _normalize_example, check_against_video, video_root, skip_missing, source, wheres)


def load_training_examples(
    path: str | os.PathLike, video_root: str | os.PathLike | None = None, skip_missing: bool = False
):
    """`prepare_examples` for a JSONL (or JSON list) file; `video_root` defaults to the file's folder; errors name
    the file's line."""
    return load_rows(path, prepare_examples, video_root, skip_missing)


def load_rows(
    path: str | os.PathLike, prepare, video_root: str | os.PathLike | None = None, skip_missing: bool = False
):
    """`prepare(rows, video_root, skip_missing, source, wheres)` on the rows of a JSONL (or JSON list) file, each
    named by its line; `video_root` defaults to the file's folder."""
    path = os.fspath(path)
    located = read_rows(path)
    video_root = os.path.dirname(os.path.abspath(path)) if video_root is None else video_root
    return prepare([row for _, row in located], video_root, skip_missing, path, [where for where, _ in located])


def keyframe_seconds(sentence: dict, duration: float | None) -> list[float]:
    """A sentence's keyframe times in seconds: its `seconds`, and its `grid` indices k as `k / 100 * duration`."""
    seconds = list(sentence.get("seconds") or [])
    return seconds + [grid_to_seconds(k, duration) for k in sentence.get("grid") or []]


def render_target(
    example: dict, timeline: SampledFrames, style: str = "special", num_frame_tokens: int = TWO_DIGIT_FRAMES
) -> str:
    """The answer the model must generate for `example` when it sees the frames of `timeline`."""
    sentences, last = [], -1
    for sentence in example["sentences"]:
        keyframes = []
        for index in sorted({timeline.nearest(t) for t in keyframe_seconds(sentence, example["duration"])}):
            if index > last:  # constrained decoding only generates increasing frames
                keyframes.append(index)
                last = index
        sentences.append(SummarySentence(sentence["text"], keyframes))
    return render_answer(sentences, style=style, task=example["task"], num_frame_tokens=num_frame_tokens)


# -- converters ----------------------------------------------------------------------------------------------------


def find_video(video_root: str | os.PathLike | None, video_id: str) -> str:
    """`<video_id><ext>` under `video_root` for the first extension present (`.mp4` when none is)."""
    for extension in VIDEO_SUFFIXES:
        candidate = video_id + extension
        if video_root is not None and os.path.isfile(os.path.join(video_root, candidate)):
            return candidate
    return video_id + ".mp4"


def convert_videoxum(
    annotations: list[dict] | str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    tasks: Iterable[str] = ("both", "video", "text"),
    min_agreement: float = 0.5,
) -> list[dict]:
    """VideoXum (`train/val/test_videoxum.json`) to training examples, one per video and task.

    VideoXum gives per video `timestamps` (a `[start, end]` segment per sentence), `tsum` (the sentences) and
    `vsum_onehot` (one 0/1 row per annotator over frames sampled at 1 fps, frame j at j seconds). A frame is a
    keyframe when at least `min_agreement` of the annotators selected it; it belongs to the first sentence whose
    segment holds it (`start <= j <= end`); keyframes outside every segment are dropped.
    """
    if not isinstance(annotations, list):
        with open(annotations, encoding="utf-8") as f:
            annotations = json.load(f)
    tasks = list(tasks)
    for task in tasks:
        if task not in SUMMARY_TASKS:
            raise ValueError(f"task must be one of {SUMMARY_TASKS}, got {task!r}")
    examples = []
    for entry in annotations:
        rows = entry["vsum_onehot"]
        votes = [sum(column) / len(rows) for column in zip(*rows)]
        selected = [j for j, share in enumerate(votes) if share >= min_agreement]
        if len(entry["timestamps"]) != len(entry["tsum"]):
            raise ValueError(
                f"VideoXum video {entry['video_id']}: {len(entry['timestamps'])} segments but "
                f"{len(entry['tsum'])} sentences"
            )
        sentences = []
        for n, text in enumerate(entry["tsum"]):
            owned = [
                float(j)
                for j in selected
                if entry["timestamps"][n][0] <= j <= entry["timestamps"][n][1]
                and not any(s <= j <= e for s, e in entry["timestamps"][:n])
            ]
            sentences.append({"text": text.strip(), "seconds": owned, "grid": []})
        for task in tasks:
            if task != "text" and not any(s["seconds"] for s in sentences):
                continue  # no keyframe the annotators agree on: nothing to learn for this task
            examples.append(
                {
                    "video": find_video(video_root, entry["video_id"]),
                    "task": task,
                    "sentences": sentences,
                    "duration": float(entry["duration"]),
                    "query": None,
                }
            )
    return examples


_PLACEHOLDER = re.compile(r"<([se]\d+)>")


def convert_v2xum_conversations(
    conversations: list[dict] | str | os.PathLike, video_root: str | os.PathLike | None = None
) -> list[dict]:
    """The released V2Xum / VTimeLLM training JSON (`{"id", "conversations": [{"from": "human", "value":
    "<video>\\n<instruction>"}, {"from": "gpt", "value": answer}], "meta": {"duration", "token": {"<s0>": t}}}`)
    to training examples.

    Answers name keyframes on the 0-99 grid (`[03, 04]`), or with `<sN>`/`<eN>` placeholders whose seconds are in
    `meta.token`. The task comes from the instruction (one of the released three); each human/gpt pair is one example.
    """
    if not isinstance(conversations, list):
        with open(conversations, encoding="utf-8") as f:
            conversations = json.load(f)
    task_of = {instruction: task for task, instruction in TASK_INSTRUCTIONS.items()}
    grid = SampledFrames(tuple(float(k) for k in range(GRID_SIZE)), tuple(range(GRID_SIZE)), float(GRID_SIZE))
    examples = []
    for entry in conversations:
        meta = entry.get("meta") or {}
        duration = meta.get("duration")
        turns = entry["conversations"]
        for human, gpt in zip(turns[::2], turns[1::2]):
            instruction = human["value"].replace("<video>", "").strip()
            if instruction not in task_of:
                raise ValueError(f"V2Xum example {entry['id']}: unknown instruction {instruction!r}")
            answer = gpt["value"]
            if _PLACEHOLDER.search(answer):
                if not duration:
                    raise ValueError(f"V2Xum example {entry['id']}: placeholders need meta.duration")
                times = meta.get("token") or {}
                answer = _PLACEHOLDER.sub(
                    lambda m: frame_token(seconds_to_grid(times[f"<{m.group(1)}>"], duration), "text"),
                    answer,
                )
            parsed = parse_summary(answer, grid, task_of[instruction])
            if not parsed.sentences and parsed.keyframes:  # a VIDEO answer: keyframes only
                parsed.sentences = [SummarySentence("", [k.index for k in parsed.keyframes])]
            has_keyframes = bool(parsed.keyframes)
            if has_keyframes and not duration:
                raise ValueError(f"V2Xum example {entry['id']}: grid keyframes need meta.duration")
            examples.append(
                {
                    "video": find_video(video_root, entry["id"]),
                    "task": task_of[instruction],
                    "sentences": [{"text": s.text, "seconds": [], "grid": s.keyframes} for s in parsed.sentences],
                    "duration": float(duration) if duration else None,
                    "query": None,
                }
            )
    return examples


TRAINING_VIDEOS_FILE = "training_videos.json"


def write_training_videos(videos: Iterable[str], out_dir: str | os.PathLike, source: str) -> str:
    """Records which videos a model was trained on (`training_videos.json`: fingerprints), so that evaluating it
    on any of them can be flagged (`training_overlap`)."""
    fingerprints = sorted({file_fingerprint(v) for v in videos})
    path = os.path.join(out_dir, TRAINING_VIDEOS_FILE)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"source": source, "num_videos": len(fingerprints), "fingerprints": fingerprints}, f)
    return path


def training_overlap(model_dir: str | os.PathLike, videos: Iterable[str]) -> list[str] | None:
    """The `videos` a model folder's `training_videos.json` says it was trained on (None: it does not say)."""
    path = os.path.join(model_dir, TRAINING_VIDEOS_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        seen = set(json.load(f)["fingerprints"])
    return [v for v in dict.fromkeys(videos) if file_fingerprint(v) in seen]


def write_jsonl(examples: Iterable[dict], path: str | os.PathLike) -> int:
    count = 0
    with open(path, "w", encoding="utf-8") as f:
        for example in examples:
            f.write(json.dumps(example, ensure_ascii=False) + "\n")
            count += 1
    return count


__all__ = [
    "MissingVideosError",
    "validate_example",
    "load_training_examples",
    "prepare_examples",
    "prepare_rows",
    "load_rows",
    "find_missing_videos",
    "render_target",
    "keyframe_seconds",
    "convert_videoxum",
    "find_video",
    "convert_v2xum_conversations",
    "write_jsonl",
    "write_training_videos",
    "training_overlap",
]
