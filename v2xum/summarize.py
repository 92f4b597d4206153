# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Summarize video files: decode each one, run the `video-summarization` pipeline, write the exports. A video that
fails (missing, not a video, an occupied output folder, generation running out of memory) is reported and the others
still run."""

import importlib.util
import os
import socket
import sys
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import BitsAndBytesConfig, Pipeline, pipeline

from processing import DecodedVideo, VideoDecodingError, VideoSummary
from processing.summary import merge_window_summaries
from processing.timeline import window_spans
from processing.video_decoding import VideoReader

from .collection import Job, OutputFolder, append_index, collect_jobs, is_complete, read_index, settings_hash
from .export import EXPORT_SHORTEST_EDGE, NO_REEL, export_summary
from .model_card import is_hub_id
from .outputs import is_occupied


DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclass
class SummarizeSettings:
    """What is asked of the model for every video; recorded in each `summary.json`. `num_frames` defaults to the
    video processor's; with `fps`, frames are sampled one per `1 / fps` seconds, at most `num_frames`. With
    `window_seconds`, each video is summarized by consecutive time windows (sampled as above, each on its own,
    batches of `batch_size` windows) merged into one summary. `prefetch`: batches decoded ahead of generation
    (0: decode, then generate, in turn). `stream`: print each answer as it is generated (batch size 1)."""

    task: str = "both"
    num_frames: int | None = None
    fps: float | None = None
    query: str | None = None
    max_keyframes: int | None = None
    decode_mode: str = "exact"
    max_new_tokens: int = 256
    batch_size: int = 1
    window_seconds: float | None = None
    prefetch: int = 2
    stream: bool = False


@dataclass
class ExportOptions:
    highlights: bool = False
    highlight_before: float = 1.0
    highlight_after: float = 2.0


@dataclass
class SummarizeReport:
    """`records`: one `summary.json` record per summarized video, in input order; `failures`: video -> reason;
    `skipped`: videos done already (resume) or being done by another run."""

    records: list[dict] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # done already (--resume) or claimed by another run


def resolve_device(name: str) -> str:
    """`auto` is CUDA when present, else the CPU; asking for CUDA where there is none is an error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name} was asked for but CUDA is not available here (use --device cpu)")
    return name


def resolve_dtype(name: str, device: str) -> torch.dtype:
    """`auto`: bf16 on GPUs that support it, fp16 on other GPUs, fp32 on CPU (half precision is slow, lossy there)."""
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
    if not os.path.exists(model) and not is_hub_id(model):  # a mistyped path is not a Hub lookup
        raise FileNotFoundError(f"cannot load model '{model}': file not found (and not a Hub id)")
    try:
        return pipeline("video-summarization", model=model, **kwargs)
    except (OSError, ValueError, RuntimeError, TypeError, KeyError, SafetensorError) as error:
        # A damaged or inconsistent checkpoint is the user's file to fix, not a bug here: say what and where.
        raise ValueError(f"cannot load model '{model}': {type(error).__name__}: {error}") from error


def summarize_videos(
    pipe: Pipeline,
    videos: list[str] | list[Job],
    out_dir: str | os.PathLike,
    settings: SummarizeSettings | None = None,
    exports: ExportOptions | None = None,
    overwrite: bool = False,
    extra: dict | None = None,
    progress: bool = True,
    resume: bool = False,
    retry_failed: bool = False,
    started: float | None = None,
) -> SummarizeReport:
    """Writes `out_dir/<name>/` (see `v2xum.export.export_summary`; names from `v2xum.collection`) for each video
    path or `Job` (a manifest row may set its own task and query), and a line per video in `out_dir/index.jsonl`.

    Each video is claimed before it is worked on (concurrent runs on one `out_dir` split the work), written aside and
    moved into place whole. With `resume`, videos whose output is complete with the same model and settings are
    skipped, and so are failed ones unless `retry_failed`; an output completed with the same settings by a
    concurrent run after `started` (default: now; the CLI passes its own start) is skipped too. `extra` goes into
    every `summary.json` (with the settings). Raises only when `out_dir` cannot be used; per-video failures are
    reported."""
    from tqdm.auto import tqdm

    settings, exports = settings or SummarizeSettings(), exports or ExportOptions()
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NotADirectoryError(f"cannot use output directory '{out}': {error}") from error
    settings = replace(settings, num_frames=settings.num_frames or pipe.processor.video_processor.num_frames)
    pipe.processor.check_frame_count(settings.num_frames)
    if settings.stream and settings.batch_size != 1:
        raise ValueError(f"--stream prints one answer at a time: use --batch-size 1 (got {settings.batch_size})")
    jobs = videos if videos and isinstance(videos[0], Job) else collect_jobs(list(videos))
    digest = outputs_digest((extra or {}).get("model"), settings, exports)
    extra = {
        **(extra or {}),
        "settings": {**asdict(settings), **(extra or {}).get("settings", {})},
        "settings_hash": digest,
    }
    bar = tqdm(total=len(jobs), desc="summarizing", unit="video", disable=None if progress else True, file=sys.stderr)
    run = _Run(pipe, out, settings, exports, extra, digest, bar)
    run.index = read_index(out) if resume else {}
    run.started = started if started is not None else time.time()
    try:
        todo = [job for job in jobs if run.admit(job, overwrite, resume, retry_failed)]
        if settings.window_seconds:  # one video at a time, its windows batched
            for job in todo:
                run.windows(job)
        else:
            _prefetched(
                run,
                list(_batches(todo, settings.batch_size, key=lambda job: (job.task, job.query))),
                settings.prefetch,
            )
    finally:
        run.release_all()  # after an interruption too: no claim or half-written folder stays behind
        bar.close()
    return run.report


def outputs_digest(model: str | None, settings: SummarizeSettings, exports: ExportOptions) -> str:
    """What makes two runs' outputs the same: the model, the settings but how work is batched, the exports."""
    same_outputs = {k: v for k, v in asdict(settings).items() if k not in ("batch_size", "prefetch", "stream")}
    return settings_hash({"model": model, "exports": asdict(exports), "settings": same_outputs})


def _prefetched(run: "_Run", batches: list[list[Job]], ahead: int) -> None:
    """Generation on each batch while a thread decodes the next `ahead` ones (decoding and generation both release
    the GIL), so the model does not wait for the decoder; at most `ahead` decoded batches wait in memory."""
    if ahead < 1:
        for batch in batches:
            run.generate(run.decode(batch))
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="v2xum-decode") as pool:
        pending = deque()
        for batch in batches:
            pending.append(pool.submit(run.decode, batch))
            if len(pending) > ahead:
                run.generate(pending.popleft().result())
        while pending:
            run.generate(pending.popleft().result())


def _decode_edge(pipe: Pipeline) -> int | None:
    """The shortest edge to decode at: what the exports' thumbnails need, or the model's input if larger; never the
    full size of a 4K source."""
    return max(EXPORT_SHORTEST_EDGE, pipe.processor.video_processor.resize_edge() or 0)


def _batches(items, size: int, key=None):
    """Consecutive batches of at most `size` items, a new batch whenever `key` changes."""
    batch = []
    for item in items:
        if batch and (len(batch) == size or key is not None and key(item) != key(batch[0])):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


class _Run:
    """One `summarize_videos` call: its claims, its report and its index lines."""

    def __init__(
        self, pipe, out: Path, settings: SummarizeSettings, exports: ExportOptions, extra: dict, digest: str, bar
    ):
        self.pipe, self.out, self.settings, self.exports, self.extra, self.digest, self.bar = (
            pipe,
            out,
            settings,
            exports,
            extra,
            digest,
            bar,
        )
        self.report = SummarizeReport()
        self.folders: dict[str, OutputFolder] = {}
        self.index = {}

    def admit(self, job: Job, overwrite: bool, resume: bool, retry_failed: bool) -> bool:
        """Whether this run works on `job` now; reports what it will not do and why. The job is claimed first and
        its folder judged under the claim: no other run can be between "not done" and "done" meanwhile."""
        if job.error is not None:
            return self.fail(job, job.error)
        folder = OutputFolder(self.out, job.name)
        if not folder.claim():
            return self._skip(job)  # another run is on it
        self.folders[job.name] = folder
        previous = self.index.get(job.name, {})
        if is_complete(folder.final, self.digest) and (
            resume or (folder.final / "summary.json").stat().st_mtime >= self.started
        ):
            return self._skip(job, folder)  # done: by an earlier run (resume) or a concurrent one
        if (
            resume
            and not retry_failed
            and previous.get("status") == "failed"
            and previous.get("settings_hash") == self.digest
        ):
            return self._skip(job, folder)
        if folder.final.exists() and not folder.final.is_dir():
            return self.fail(job, f"output path {folder.final} is a file, not a folder")
        if is_occupied(folder.final) and not overwrite and not resume:
            return self.fail(job, f"output folder {folder.final} already exists and is not empty (pass --overwrite)")
        return True

    def _skip(self, job: Job, folder: OutputFolder | None = None) -> bool:
        self.report.skipped.append(job.video)
        if folder is not None:
            self.folders.pop(job.name).release()
        self.bar.update()
        return False

    def _kwargs(self, job: Job) -> dict:
        s = self.settings
        return {
            "task": job.task or s.task,
            "num_frames": s.num_frames,
            "fps": s.fps,
            "query": job.query or s.query,
            "max_keyframes": s.max_keyframes,
            "max_new_tokens": s.max_new_tokens,
            "stream": s.stream or None,
        }

    def decode(self, jobs: list[Job]) -> list[tuple[Job, DecodedVideo | str]]:
        """Each job's decoded video, or why it could not be decoded (run ahead of generation, in a thread)."""
        results = []
        for job in jobs:
            try:
                results.append(
                    (
                        job,
                        self.pipe.processor.video_processor.load_video(
                            job.video,
                            self.settings.num_frames,
                            self.settings.decode_mode,
                            self.settings.fps,
                            _decode_edge(self.pipe),
                        ),
                    )
                )
            except VideoDecodingError as error:
                results.append((job, error.reason))
        return results

    def generate(self, loaded: list[tuple[Job, DecodedVideo | str]]) -> None:
        for job, reason in [(job, video) for job, video in loaded if isinstance(video, str)]:
            self.fail(job, reason)
        decoded = [(job, video) for job, video in loaded if not isinstance(video, str)]
        if not decoded:
            return
        if self.settings.stream:  # batch size 1: one video's answer follows
            print(f"{decoded[0][0].video}:", flush=True)
        try:
            results = self.pipe(
                [d for _, d in decoded], batch_size=self.settings.batch_size, **self._kwargs(decoded[0][0])
            )
        except (RuntimeError, ValueError) as error:  # e.g. out of memory: the other batches still run
            for job, _ in decoded:
                self.fail(job, f"summarizing failed: {error}")
            return
        for (job, video), result in zip(decoded, results):
            self.finish(job, VideoSummary.from_dict(result), video)

    def windows(self, job: Job) -> None:
        """One long video by time windows, `batch_size` windows at a time (only those in memory), with a progress
        bar per window; the same building blocks as the pipeline's `window_seconds` (`iter_windows`, then
        `merge_window_summaries`)."""
        from tqdm.auto import tqdm

        s = self.settings
        try:
            reader = VideoReader(job.video)
            first = reader.sample(num_frames=1, shortest_edge=_decode_edge(self.pipe))  # size, rate, duration
            count = len(window_spans(reader.timeline.duration, s.window_seconds))
            windows = self.pipe.processor.video_processor.iter_windows(
                reader, s.window_seconds, s.num_frames, s.fps, s.decode_mode
            )
            summaries, spans = [], []
            if s.stream:
                print(f"{job.video}:", flush=True)
            with tqdm(
                total=count,
                desc=f"windows of {Path(job.video).name}",
                unit="window",
                disable=None,
                leave=False,
                file=sys.stderr,
            ) as progress:
                for batch in _batches(windows, s.batch_size):
                    # Each window is capped at the summary's keyframe budget too: none needs more than the whole.
                    results = self.pipe([w for _, _, w in batch], batch_size=s.batch_size, **self._kwargs(job))
                    summaries += [VideoSummary.from_dict(result) for result in results]
                    spans += [(start, end, len(w.frames)) for start, end, w in batch]
                    progress.update(len(batch))
            summary = merge_window_summaries(summaries, spans, s.max_keyframes)
        except VideoDecodingError as error:
            self.fail(job, error.reason)
        except (RuntimeError, ValueError) as error:
            self.fail(job, f"summarizing failed: {error}")
        else:
            self.finish(job, summary, first)

    def finish(self, job: Job, summary: VideoSummary, decoded: DecodedVideo) -> None:
        folder = self.folders[job.name]
        try:
            record = export_summary(summary, decoded, folder.work, extra=self.extra, **asdict(self.exports))
            folder.commit()
        except (OSError, ValueError) as error:
            self.fail(job, f"writing outputs to {folder.final} failed: {error}")
            return
        self.report.records.append(record)
        self.bar.write(f"{job.video} -> {folder.final}", file=sys.stderr)
        if self.exports.highlights and "highlights" not in record["files"]:
            self.fail(job, f"{NO_REEL} (the other outputs are in {folder.final})")
            return
        self._close(job, "ok", None)

    def fail(self, job: Job, reason: str) -> bool:
        self.report.failures[job.video] = reason
        self._close(job, "failed", reason)
        return False

    def _close(self, job: Job, status: str, error: str | None) -> None:
        append_index(
            self.out,
            {
                "id": job.name,
                "video": job.video,
                "status": status,
                "error": error,
                "output": job.name,
                "settings_hash": self.digest,
                "finished": time.time(),
                "host": socket.gethostname(),
                "pid": os.getpid(),
            },
        )
        folder = self.folders.pop(job.name, None)
        if folder is not None:
            folder.release()
        self.bar.update()

    def release_all(self) -> None:
        for folder in self.folders.values():
            folder.release()
        self.folders.clear()


__all__ = [
    "SummarizeSettings",
    "ExportOptions",
    "SummarizeReport",
    "summarize_videos",
    "load_pipeline",
    "resolve_device",
    "resolve_dtype",
]
