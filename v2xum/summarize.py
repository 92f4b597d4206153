# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""The one summarization engine: settings, loading the `video-summarization` pipeline, and turning videos into
summaries and their output folders. Every way in calls it: `v2xum summarize` (this module's local runner, one or
several processes; `v2xum.ray_summarize` on Ray), the app, `v2xum demo` and `v2xum evaluate`.

A video reaches the model exactly as a plain `pipe(path)` call gives it: decoded by the pipeline's own video
processor rule, at the model's input size (`VideoSummarizer.decode`), or, with `window_seconds`, through the
pipeline's own windows. A video that fails (missing, not a video, an occupied output folder, generation running out
of memory) is reported and the others still run.
"""

import importlib.util
import os
import socket
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import BitsAndBytesConfig, Pipeline, pipeline

from modeling_v2xum.model_card import is_hub_id
from processing import DecodedVideo, VideoDecodingError, VideoSummary
from processing.video_decoding import VideoReader, decode_thread_count

from .collection import Job, collect_jobs
from .export import NO_REEL, export_summary
from .limits import LOCAL_LIMITS, LimitError, Limits
from .outputs import (
    OutputFolder,
    append_index,
    is_complete,
    is_occupied,
    read_index,
    settings_hash,
    sweep_work_folders,
)


DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
QUANTIZATIONS = ("4bit", "8bit")


@dataclass
class SummarizeSettings:
    """What is asked of the model for every video; recorded in each `summary.json`. `num_frames` defaults to the
    video processor's; with `fps`, frames are sampled one per `1 / fps` seconds, at most `num_frames`. With
    `window_seconds`, each video is summarized by consecutive time windows (sampled as above, each on its own,
    batches of `batch_size` windows) merged into one summary. `prefetch`: batches decoded ahead of generation
    (0: decode, then generate, in turn). `stream`: print each answer as it is generated (batch size 1).
    `decode_threads`: threads per video decode (default: the cores this process may use, shared among the processes
    of a multi-process run on this machine; one per Ray decoding task)."""

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
    decode_threads: int | None = None


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
        check_quantization(quantization)
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


def check_quantization(quantization: str | None) -> None:
    """A quantization that can load here (before any model loads, on any engine), or a `ValueError` saying why."""
    if quantization is None:
        return
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ValueError(f"--load-in-{quantization} needs the bitsandbytes package: pip install bitsandbytes")


def decode_for_model(
    video: str, settings: SummarizeSettings, shortest_edge: int | None, limits: Limits = LOCAL_LIMITS
) -> DecodedVideo:
    """What the pipeline's video processor decodes for `pipe(video)` (`V2XumVideoProcessor.load_video`):
    `settings.num_frames` frames (or `fps`) straight at the model's input size (`shortest_edge`,
    `V2XumVideoProcessor.resize_edge()`), once the file's real length is within `limits`. The Ray runner's CPU
    stage calls it without a model."""
    reader = VideoReader(video, settings.decode_threads)
    limits.check_video(reader.timeline.duration, settings.num_frames)
    return reader.sample(settings.num_frames, settings.decode_mode, settings.fps, shortest_edge)


class VideoSummarizer:
    """The engine: a loaded pipeline and the settings every video gets (`num_frames` resolved to the processor's).

    `decode` and `summarize` split what `pipe(paths)` does, so decoding can run ahead of generation, with the same
    result; `summarize_windows` is the pipeline's `window_seconds`; `write` exports a summary into its claimed
    output folder. Every request and video is held to `limits` before work starts (`v2xum.limits`)."""

    def __init__(self, pipe: Pipeline, settings: SummarizeSettings | None = None, limits: Limits = LOCAL_LIMITS):
        settings = settings or SummarizeSettings()
        self.pipe, self.limits = pipe, limits
        self.settings = replace(
            settings,
            num_frames=settings.num_frames or pipe.processor.video_processor.num_frames,
            # processes of one run on this machine share its cores
            decode_threads=decode_thread_count(settings.decode_threads, int(os.environ.get("LOCAL_WORLD_SIZE", 1))),
        )
        pipe.processor.check_frame_count(self.settings.num_frames)
        limits.check_request(self.settings.fps, self.settings.window_seconds)
        if self.settings.stream and self.settings.batch_size != 1:
            raise ValueError(f"--stream prints one answer at a time: use --batch-size 1 (got {settings.batch_size})")

    @property
    def shortest_edge(self) -> int | None:
        return self.pipe.processor.video_processor.resize_edge()

    def decode(self, video: str) -> DecodedVideo:
        return decode_for_model(video, self.settings, self.shortest_edge, self.limits)

    def call_options(self, task: str | None = None, query: str | None = None) -> dict:
        """The pipeline call parameters for a video of `task`/`query` (a manifest row's own, else the settings')."""
        s = self.settings
        return {
            "task": task or s.task,
            "query": query or s.query,
            "max_keyframes": s.max_keyframes,
            "max_new_tokens": s.max_new_tokens,
            "stream": s.stream or None,
        }

    def summarize(
        self, videos: list[DecodedVideo], task: str | None = None, query: str | None = None
    ) -> list[VideoSummary]:
        """Summaries of `decode`d videos, in batches of `batch_size`. The pipeline samples a decoded video again by
        `num_frames`: all of its frames, as they were sampled already (the frames of `pipe(path)`)."""
        outputs = self.pipe(
            videos,
            batch_size=self.settings.batch_size,
            num_frames=self.settings.num_frames,
            **self.call_options(task, query),
        )
        return [VideoSummary.from_dict(output) for output in outputs]

    def summarize_windows(
        self, video: str, task: str | None = None, query: str | None = None, progress: bool = True
    ) -> tuple[VideoSummary, DecodedVideo]:
        """One long video by time windows through the pipeline's `window_seconds` (each window decoded when its
        turn comes, `batch_size` windows at a time), with a progress bar over the windows. The file is indexed
        once; returns the summary and its first frame (what the exports need: size, rate, length)."""
        s = self.settings
        reader = VideoReader(video, s.decode_threads)
        self.limits.check_video(reader.timeline.duration, s.num_frames, s.window_seconds)
        first = reader.sample(num_frames=1, shortest_edge=self.shortest_edge)
        output = self.pipe(
            reader,
            window_seconds=s.window_seconds,
            batch_size=s.batch_size,
            num_frames=s.num_frames,
            fps=s.fps,
            decode_mode=s.decode_mode,
            progress=progress or None,
            **self.call_options(task, query),
        )
        return VideoSummary.from_dict(output), first

    @staticmethod
    def write(
        summary: VideoSummary, video: DecodedVideo, folder: OutputFolder, exports: ExportOptions, extra: dict
    ) -> tuple[dict, str | None]:
        """Exports `summary` into the claimed `folder` (written aside, moved into place, `summary.json` last).
        Returns its record, and what went wrong though the outputs are in place (a highlight reel asked for that no
        keyframe allows), or None."""
        record = export_summary(summary, video, folder.work, extra=extra, **asdict(exports))
        folder.commit()
        if exports.highlights and "highlights" not in record["files"]:
            return record, f"{NO_REEL} (the other outputs are in {folder.final})"
        return record, None


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
    limits: Limits = LOCAL_LIMITS,
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

    summarizer = VideoSummarizer(pipe, settings, limits)
    settings, exports = summarizer.settings, exports or ExportOptions()
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NotADirectoryError(f"cannot use output directory '{out}': {error}") from error
    jobs = videos if videos and isinstance(videos[0], Job) else collect_jobs(list(videos))
    digest = outputs_digest((extra or {}).get("model"), settings, exports)
    extra = {
        **(extra or {}),
        "settings": {**asdict(settings), **(extra or {}).get("settings", {})},
        "settings_hash": digest,
    }
    bar = tqdm(total=len(jobs), desc="summarizing", unit="video", disable=None if progress else True, file=sys.stderr)
    run = _Run(summarizer, out, exports, extra, digest, bar, overwrite, resume, retry_failed)
    run.index = read_index(out) if resume else {}
    run.started = started if started is not None else time.time()
    sweep_work_folders(out)  # what killed runs left half-written
    try:
        todo = [job for job in jobs if run.admit(job)]
        if settings.window_seconds:  # one video at a time, its windows batched
            for job in todo:
                if run.start(job):
                    run.windows(job)
        else:
            batches = list(_batches(todo, settings.batch_size, key=lambda job: (job.task, job.query)))
            _prefetched(run, batches, settings.prefetch)
    finally:
        run.release_all()  # after an interruption too: no claim or half-written folder stays behind
        bar.close()
    return run.report


def outputs_digest(model: str | None, settings: SummarizeSettings, exports: ExportOptions) -> str:
    """What makes two runs' outputs the same: the model, the settings but how work is batched, the exports."""
    how_work_runs = ("batch_size", "prefetch", "stream", "decode_threads")
    same_outputs = {k: v for k, v in asdict(settings).items() if k not in how_work_runs}
    return settings_hash({"model": model, "exports": asdict(exports), "settings": same_outputs})


def this_process_share(jobs: list, device: str) -> tuple[list, str]:
    """Under `accelerate launch` (or torchrun), this process's share of the jobs and its device; else all of them.
    The claims keep processes from doing a video twice either way; the split spreads the work evenly."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return jobs, device
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())  # on CPUs the processes join a gloo group
    own_device = "cpu" if state.device.type == "cpu" else str(state.device)
    with state.split_between_processes(jobs) as share:
        return list(share), (own_device if device == "auto" else device)


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
    """One `summarize_videos` call: its claims, its report and its index lines. A job is judged at admission (done,
    failed before, an occupied folder), then claimed when its work starts (so concurrent runs on one output folder
    split the work) and judged again under the claim."""

    def __init__(
        self,
        summarizer: VideoSummarizer,
        out: Path,
        exports: ExportOptions,
        extra: dict,
        digest: str,
        bar,
        overwrite: bool = False,
        resume: bool = False,
        retry_failed: bool = False,
    ):
        self.summarizer, self.out, self.exports, self.extra, self.digest, self.bar = (
            summarizer,
            out,
            exports,
            extra,
            digest,
            bar,
        )
        self.overwrite, self.resume, self.retry_failed = overwrite, resume, retry_failed
        self.report = SummarizeReport()
        self.folders: dict[str, OutputFolder] = {}
        self.lock = threading.Lock()  # claims are taken by the decoding thread too
        self.index = {}

    def admit(self, job: Job) -> bool:
        """Whether this run should work on `job`; reports what it will not do and why."""
        if job.error is not None:
            return self.fail(job, job.error)
        folder = OutputFolder(self.out, job.name)
        try:
            folder.check_not_linked()
        except OSError as error:
            return self.fail(job, str(error))
        reason = self._done_or_refused(job, folder)
        if reason == "done":
            return self._skip(job)
        return self.fail(job, reason) if reason else True

    def _done_or_refused(self, job: Job, folder: OutputFolder) -> str | None:
        """ "done" (skip it), why it must not be done (a failure), or None (do it)."""
        final = folder.final
        if final.exists() and not final.is_dir():
            return f"output path {final} is a file, not a folder"
        if is_complete(final, self.digest):
            if self.resume or (final / "summary.json").stat().st_mtime >= self.started:
                return "done"  # by an earlier run (resume) or by a concurrent one
        elif (final / "summary.json").is_file() and not self.overwrite:
            return f"output folder {final} holds a complete summary made with other settings (pass --overwrite)"
        previous = self.index.get(job.name, {})
        if self.resume and previous.get("status") == "failed" and previous.get("settings_hash") == self.digest:
            if not self.retry_failed:
                return f"failed in an earlier run: {previous.get('error')} (--retry-failed tries it again)"
        if is_occupied(final) and not self.overwrite and not self.resume:
            return f"output folder {final} already exists and is not empty (pass --overwrite)"
        return None

    def start(self, job: Job) -> bool:
        """Claims `job` as its work starts and judges it again under the claim; False: skipped (another run has it,
        or finished it meanwhile)."""
        folder = OutputFolder(self.out, job.name)
        if not folder.claim(take_over=self.overwrite):
            return self._skip(job)  # another run is on it
        with self.lock:
            self.folders[job.name] = folder
        reason = self._done_or_refused(job, folder)  # another run may have been here meanwhile
        if reason == "done":
            return self._skip(job, folder)
        return self.fail(job, reason) if reason else True

    def _skip(self, job: Job, folder: OutputFolder | None = None) -> bool:
        with self.lock:
            self.report.skipped.append(job.video)
            if folder is not None:
                self.folders.pop(job.name).release()
        self.bar.update()
        return False

    def decode(self, jobs: list[Job]) -> list[tuple[Job, DecodedVideo | str]]:
        """Each job this run claims (`start`): its decoded video, or why it could not be decoded (run ahead of
        generation, in a thread)."""
        results = []
        for job in jobs:
            if not self.start(job):
                continue
            try:
                results.append((job, self.summarizer.decode(job.video)))
            except VideoDecodingError as error:
                results.append((job, error.reason))
            except LimitError as error:
                results.append((job, str(error)))
        return results

    def generate(self, loaded: list[tuple[Job, DecodedVideo | str]]) -> None:
        for job, reason in [(job, video) for job, video in loaded if isinstance(video, str)]:
            self.fail(job, reason)
        decoded = [(job, video) for job, video in loaded if not isinstance(video, str)]
        if not decoded:
            return
        if self.summarizer.settings.stream:  # batch size 1: one video's answer follows
            print(f"{decoded[0][0].video}:", flush=True)
        first = decoded[0][0]
        try:
            summaries = self.summarizer.summarize([video for _, video in decoded], first.task, first.query)
        except (RuntimeError, ValueError) as error:  # e.g. out of memory: the other batches still run
            for job, _ in decoded:
                self.fail(job, f"summarizing failed: {error}")
            return
        for (job, video), summary in zip(decoded, summaries):
            self.finish(job, summary, video)

    def windows(self, job: Job) -> None:
        """One long video by time windows (the pipeline's `window_seconds`); the file is indexed once."""
        try:
            if self.summarizer.settings.stream:
                print(f"{job.video}:", flush=True)
            summary, first = self.summarizer.summarize_windows(job.video, job.task, job.query)
        except VideoDecodingError as error:
            self.fail(job, error.reason)
        except LimitError as error:
            self.fail(job, str(error))
        except (RuntimeError, ValueError) as error:
            self.fail(job, f"summarizing failed: {error}")
        else:
            self.finish(job, summary, first)

    def finish(self, job: Job, summary: VideoSummary, decoded: DecodedVideo) -> None:
        folder = self.folders[job.name]
        try:
            record, problem = self.summarizer.write(summary, decoded, folder, self.exports, self.extra)
        except (OSError, ValueError) as error:
            self.fail(job, f"writing outputs to {folder.final} failed: {error}")
            return
        self.report.records.append(record)
        self.bar.write(f"{job.video} -> {folder.final}", file=sys.stderr)
        if problem:
            self.fail(job, problem)
        else:
            self._close(job, "ok", None)

    def fail(self, job: Job, reason: str) -> bool:
        self.report.failures[job.label] = reason
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
        with self.lock:
            folder = self.folders.pop(job.name, None)
        if folder is not None:
            folder.release()
        self.bar.update()

    def release_all(self) -> None:
        with self.lock:
            for folder in self.folders.values():
                folder.release()
            self.folders.clear()


__all__ = [
    "SummarizeSettings",
    "ExportOptions",
    "SummarizeReport",
    "VideoSummarizer",
    "summarize_videos",
    "decode_for_model",
    "load_pipeline",
    "resolve_device",
    "resolve_dtype",
    "this_process_share",
    "outputs_digest",
]
