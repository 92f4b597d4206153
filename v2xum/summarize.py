# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Summarize video files: decode each one, run the `video-summarization` pipeline, write the exports. A video that
fails (missing, not a video, an occupied output folder, generation running out of memory) is reported and the others
still run."""

import importlib.util
import math
import os
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from transformers import BitsAndBytesConfig, Pipeline, pipeline

from processing import DecodedVideo, VideoDecodingError, VideoSummary
from processing.summary import merge_window_summaries
from processing.video_decoding import VideoReader

from .export import EXPORT_SHORTEST_EDGE, NO_REEL, export_summary
from .outputs import is_occupied


DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclass
class SummarizeSettings:
    """What is asked of the model for every video; recorded in each `summary.json`. `num_frames` defaults to the
    video processor's; with `fps`, frames are sampled one per `1 / fps` seconds, at most `num_frames`. With
    `window_seconds`, each video is summarized by consecutive time windows (sampled as above, each on its own,
    batches of `batch_size` windows) merged into one summary."""

    task: str = "both"
    num_frames: int | None = None
    fps: float | None = None
    query: str | None = None
    max_keyframes: int | None = None
    decode_mode: str = "exact"
    max_new_tokens: int = 256
    batch_size: int = 1
    window_seconds: float | None = None


@dataclass
class ExportOptions:
    highlights: bool = False
    highlight_before: float = 1.0
    highlight_after: float = 2.0


@dataclass
class SummarizeReport:
    """`records`: one `summary.json` record per summarized video, in input order; `failures`: video -> reason."""

    records: list[dict] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)


def resolve_device(name: str) -> str:
    """`auto` is CUDA when present, else the CPU; asking for CUDA where there is none is an error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name} was asked for but CUDA is not available here (use --device cpu)")
    return name


def resolve_dtype(name: str, device: str) -> torch.dtype:
    """`auto`: bf16 on GPUs that support it, fp16 on other GPUs, fp32 on CPU (half precision is slow and lossy there)."""
    if name != "auto":
        return DTYPES[name]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_pipeline(model: str, device: str = "auto", dtype: str = "auto", quantization: str | None = None) -> Pipeline:
    """The `video-summarization` pipeline for a checkpoint (folder or Hub id); `quantization` is `"4bit"` or
    `"8bit"` (bitsandbytes) for the language model, the tower, projector and head staying in `dtype`."""
    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    kwargs: dict = {"dtype": torch_dtype}
    if quantization:
        if importlib.util.find_spec("bitsandbytes") is None:
            raise ValueError(f"--load-in-{quantization} needs the bitsandbytes package: pip install bitsandbytes")
        config = BitsAndBytesConfig(
            load_in_4bit=quantization == "4bit",
            load_in_8bit=quantization == "8bit",
            bnb_4bit_compute_dtype=torch_dtype,
            llm_int8_skip_modules=["vision_tower", "multi_modal_projector", "lm_head"],
        )
        kwargs |= {"model_kwargs": {"quantization_config": config}, "device_map": device}
    else:
        kwargs["device"] = device
    try:
        return pipeline("video-summarization", model=model, **kwargs)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot load model '{model}': {error}") from error


def output_names(videos: list[str]) -> list[str]:
    """One folder name per input: the file stem, numbered when two inputs share a stem."""
    names, seen = [], {}
    for video in videos:
        stem = Path(video).stem or "video"
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return names


def summarize_videos(
    pipe: Pipeline,
    videos: list[str],
    out_dir: str | os.PathLike,
    settings: SummarizeSettings | None = None,
    exports: ExportOptions | None = None,
    overwrite: bool = False,
    extra: dict | None = None,
    progress: bool = True,
) -> SummarizeReport:
    """Writes `out_dir/<video stem>/` (see `v2xum.export.export_summary`) for each video. `extra` goes into every
    `summary.json` (with the settings). Raises only when `out_dir` cannot be used; per-video failures are reported."""
    from tqdm.auto import tqdm

    settings, exports = settings or SummarizeSettings(), exports or ExportOptions()
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NotADirectoryError(f"cannot use output directory '{out}': {error}") from error
    settings = replace(settings, num_frames=settings.num_frames or pipe.processor.video_processor.num_frames)
    pipe.processor.check_frame_count(settings.num_frames)
    extra = {**(extra or {}), "settings": {**asdict(settings), **(extra or {}).get("settings", {})}}
    report, jobs = SummarizeReport(), []
    for video, name in zip(videos, output_names(videos)):
        if is_occupied(out / name) and not overwrite:
            report.failures[video] = f"output folder {out / name} already exists and is not empty (pass --overwrite)"
        else:
            jobs.append((video, out / name))
    bar = tqdm(total=len(jobs), desc="summarizing", unit="video", disable=None if progress else True, file=sys.stderr)
    if settings.window_seconds:  # one video at a time, its windows batched
        for job in jobs:
            _summarize_windows(pipe, job, settings, exports, extra, report, bar)
    else:
        for start in range(0, len(jobs), settings.batch_size):
            _summarize_batch(pipe, jobs[start : start + settings.batch_size], settings, exports, extra, report, bar)
    bar.close()
    return report


def _decode_edge(pipe: Pipeline) -> int | None:
    """The shortest edge to decode at: what the exports' thumbnails need, or the model's input if larger; never the
    full size of a 4K source."""
    return max(EXPORT_SHORTEST_EDGE, pipe.processor.video_processor.resize_edge() or 0)


def _summarize_windows(pipe, job, settings: SummarizeSettings, exports: ExportOptions, extra, report, bar) -> None:
    """One long video by time windows, `batch_size` windows at a time (only those in memory), with a progress bar
    per window; the same building blocks as the pipeline's `window_seconds` (`iter_windows`, then
    `merge_window_summaries`)."""
    from tqdm.auto import tqdm

    video, target = job
    # Windows are generated with the summary's keyframe cap too: no window needs more than the whole summary.
    kwargs = {**_pipeline_kwargs(settings), "decode_mode": None, "window_seconds": None}
    try:
        reader = VideoReader(video)
        first = reader.sample(num_frames=1, shortest_edge=_decode_edge(pipe))  # size, rate and duration for exports
        count = max(1, math.ceil(reader.timeline.duration / settings.window_seconds - 1e-9))
        windows = pipe.processor.video_processor.iter_windows(
            video, settings.window_seconds, settings.num_frames, settings.fps, settings.decode_mode
        )
        summaries, spans = [], []
        with tqdm(total=count, desc=f"windows of {Path(video).name}", unit="window", disable=None, leave=False,
                  file=sys.stderr) as progress:
            for batch in _batches(windows, settings.batch_size):
                results = pipe([window for _, _, window in batch], batch_size=settings.batch_size, **kwargs)
                summaries += [VideoSummary.from_dict(result) for result in results]
                spans += [(start, end, len(window.frames)) for start, end, window in batch]
                progress.update(len(batch))
        summary = merge_window_summaries(summaries, spans, settings.max_keyframes)
    except VideoDecodingError as error:
        report.failures[video] = error.reason
    except (RuntimeError, ValueError) as error:
        report.failures[video] = f"summarizing failed: {error}"
    else:
        _export(summary, first, video, target, exports, extra, report, bar)
        return
    bar.update()


def _batches(items, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _pipeline_kwargs(settings: SummarizeSettings) -> dict:
    return {"task": settings.task, "num_frames": settings.num_frames, "fps": settings.fps, "query": settings.query,
            "max_keyframes": settings.max_keyframes, "max_new_tokens": settings.max_new_tokens,
            "decode_mode": settings.decode_mode, "window_seconds": settings.window_seconds}


def _summarize_batch(pipe, jobs, settings: SummarizeSettings, exports: ExportOptions, extra, report, bar) -> None:
    decoded: list[tuple[str, Path, DecodedVideo]] = []
    for video, target in jobs:
        try:
            loaded = pipe.processor.video_processor.load_video(
                video, settings.num_frames, settings.decode_mode, settings.fps, _decode_edge(pipe)
            )
            decoded.append((video, target, loaded))
        except VideoDecodingError as error:
            report.failures[video] = error.reason
            bar.update()
    if not decoded:
        return
    try:
        results = pipe([d for _, _, d in decoded], batch_size=settings.batch_size,
                       **{**_pipeline_kwargs(settings), "decode_mode": None, "window_seconds": None})
    except (RuntimeError, ValueError) as error:  # e.g. out of memory: the other batches still run
        for video, _, _ in decoded:
            report.failures[video] = f"summarizing failed: {error}"
        bar.update(len(decoded))
        return
    for (video, target, d), result in zip(decoded, results):
        _export(VideoSummary.from_dict(result), d, video, target, exports, extra, report, bar)


def _export(summary: VideoSummary, decoded: DecodedVideo, video: str, target: Path, exports: ExportOptions, extra,
            report: SummarizeReport, bar) -> None:
    try:
        record = export_summary(summary, decoded, target, extra=extra, **asdict(exports))
    except (OSError, ValueError) as error:
        report.failures[video] = f"writing outputs to {target} failed: {error}"
    else:
        report.records.append(record)
        bar.write(f"{video} -> {target}", file=sys.stderr)
        if exports.highlights and "highlights" not in record["files"]:
            report.failures[video] = f"{NO_REEL} (the other outputs are in {target})"
    bar.update()


__all__ = [
    "SummarizeSettings",
    "ExportOptions",
    "SummarizeReport",
    "summarize_videos",
    "load_pipeline",
    "resolve_device",
    "resolve_dtype",
    "output_names",
]
