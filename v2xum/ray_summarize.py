# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Summarize a collection on a Ray cluster with Ray Data (`pip install "v2xum[ray]"`): a runner of the one engine
(`v2xum.summarize.VideoSummarizer`), so a video gets the summary `v2xum summarize` gives it.

A CPU stage decodes and samples each video as the pipeline would (`decode_for_model`; with `window_seconds` the
model stage reads each video's windows itself, one at a time); an actor-pool stage holds the model (`num_gpus` per
actor: one actor per GPU, in `dtype`, optionally quantized) and writes each video's outputs with the same rules as
`v2xum summarize`: claimed, written aside, moved into place with `summary.json` last, skipped when already complete
with the same settings. Actors that die are restarted and their batches retried (a video finished before the crash
is found complete, not redone). The driver writes `index.jsonl`. A Ray run always resumes: outputs complete with the
same settings are skipped; an output folder holding anything else is refused unless `overwrite`.
"""

import json
import os
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from processing import DecodedVideo, VideoDecodingError

from .collection import Job, collect_jobs
from .limits import LOCAL_LIMITS, LimitError, Limits
from .outputs import OutputFolder, append_index, is_complete, is_occupied
from .summarize import (
    ExportOptions,
    SummarizeReport,
    SummarizeSettings,
    VideoSummarizer,
    check_quantization,
    decode_for_model,
    load_pipeline,
    outputs_digest,
)


def summarize_dataset(
    dataset,
    model: str,
    out_dir: str | os.PathLike,
    settings: SummarizeSettings | None = None,
    exports: ExportOptions | None = None,
    concurrency: int = 1,
    num_gpus: float = 0.0,
    device: str = "auto",
    dtype: str = "auto",
    quantization: str | None = None,
    overwrite: bool = False,
    actor_class: type | None = None,
    limits: Limits = LOCAL_LIMITS,
) -> SummarizeReport:
    """`dataset`: a `ray.data.Dataset` with a `video` column (paths or URLs; optional `id`, `task`, `query`).
    `concurrency` actors hold the model, each with `num_gpus` GPUs. Returns the run's report."""
    from transformers import AutoProcessor

    settings, exports = settings or SummarizeSettings(), exports or ExportOptions()
    if settings.stream:
        raise ValueError("--stream prints answers in this process; it does not apply to --engine ray")
    check_quantization(quantization)  # here, not as a dying actor
    limits.check_request(settings.fps, settings.window_seconds)
    processor = AutoProcessor.from_pretrained(model)  # the model's frame count and size, as the engine uses
    settings = replace(settings, num_frames=settings.num_frames or processor.video_processor.num_frames)
    processor.check_frame_count(settings.num_frames)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = _jobs(dataset.take_all())  # paths and names only: what the driver needs to name every output
    digest = outputs_digest(model, settings, exports)
    report = SummarizeReport()
    for job in jobs:
        if (
            job.error is None
            and not overwrite
            and not is_complete(out / job.name, digest)
            and is_occupied(out / job.name)
        ):
            job.error = f"output folder {out / job.name} already exists and is not empty (pass --overwrite)"
        if job.error:
            report.failures[job.label] = job.error
            append_index(out, _record(job, "failed", job.error, digest))
    import ray.data

    todo = ray.data.from_items([asdict(job) for job in jobs if not job.error])
    # Each decoding task reserves the CPUs its decoder's threads use, so Ray never runs more threads than cores.
    decode_threads = settings.decode_threads or 1
    decoded = todo.map(
        _decode_row,
        num_cpus=decode_threads,
        fn_kwargs={
            "settings": asdict(replace(settings, decode_threads=decode_threads)),
            "shortest_edge": processor.video_processor.resize_edge(),
            "limits": asdict(limits),
        },
    )
    results = decoded.map_batches(
        actor_class or SummarizerActor,
        fn_constructor_kwargs={
            "model": model,
            "out_dir": str(out),
            "settings": asdict(settings),
            "exports": asdict(exports),
            "digest": digest,
            "device": device,
            "dtype": dtype,
            "quantization": quantization,
            "limits": asdict(limits),
        },
        batch_size=settings.batch_size,
        batch_format="pandas",
        concurrency=concurrency,
        num_gpus=num_gpus,
    )
    for row in results.take_all():
        job = Job(row["video"], row["name"], source=row.get("source") or None)
        append_index(out, _record(job, row["status"], row["error"] or None, digest))
        if row["status"] != "ok":
            report.failures[job.label] = row["error"]
        elif (out / job.name / "summary.json").is_file():  # else another worker's claim: it writes that one
            report.records.append(json.loads((out / job.name / "summary.json").read_text()))
    return report


def _jobs(rows: list[dict]) -> list[Job]:
    """Jobs with collision-free names from dataset rows (as a manifest's rows are read)."""
    unnamed = [row["video"] for row in rows if not row.get("id")]
    named = iter(collect_jobs(unnamed) if unnamed else [])
    jobs = []
    for row in rows:
        job = Job(row["video"], row["id"]) if row.get("id") else next(named)
        job.task, job.query, job.source = row.get("task") or None, row.get("query") or None, row.get("source") or None
        jobs.append(job)
    return jobs


def _record(job: Job, status: str, error: str | None, digest: str) -> dict:
    return {
        "id": job.name,
        "video": job.video,
        "status": status,
        "error": error,
        "output": job.name,
        "settings_hash": digest,
    }


_NO_FRAMES = np.zeros((0, 1, 1, 3), np.uint8)


def _decode_row(row: dict, settings: dict, shortest_edge: int | None, limits: dict) -> dict:
    """The CPU stage: one video decoded and sampled as the pipeline decodes it (frames plus their timing), or why
    it could not be; with windows, nothing (the model stage reads each window when its turn comes)."""
    if settings["window_seconds"]:
        return {**row, "frames": _NO_FRAMES, "timing": "{}", "error": None}
    try:
        video = decode_for_model(row["video"], SummarizeSettings(**settings), shortest_edge, Limits(**limits))
    except VideoDecodingError as error:
        return {**row, "frames": _NO_FRAMES, "timing": "{}", "error": error.reason}
    except LimitError as error:
        return {**row, "frames": _NO_FRAMES, "timing": "{}", "error": str(error)}
    timing = {k: v for k, v in asdict(video).items() if k != "frames"}
    return {**row, "frames": video.frames, "timing": json.dumps(timing), "error": None}


def _frames(value) -> np.ndarray:
    """A row's frames as one `(T, H, W, 3)` array (Ray Data may hand variable-shaped tensors as nested arrays)."""
    value = np.asarray(value)
    return np.stack(list(value)) if value.dtype == object else value


class SummarizerActor:
    """The model stage: the engine on a batch of decoded videos (or of long videos, by windows), outputs written."""

    def __init__(
        self,
        model: str,
        out_dir: str,
        settings: dict,
        exports: dict,
        digest: str,
        device: str = "auto",
        dtype: str = "auto",
        quantization: str | None = None,
        limits: dict | None = None,
    ):
        pipe = load_pipeline(model, device=device, dtype=dtype, quantization=quantization)
        self.summarizer = VideoSummarizer(pipe, SummarizeSettings(**settings), Limits(**(limits or {})))
        self.out, self.exports, self.digest = Path(out_dir), ExportOptions(**exports), digest
        self.extra = {
            "model": model,
            "settings": {
                **settings,
                "device": str(pipe.device),
                "dtype": str(pipe.dtype).removeprefix("torch."),
                "quantization": quantization,
            },
            "settings_hash": digest,
        }

    def __call__(self, batch):
        rows = batch.to_dict("records")
        results = {row["name"]: row["error"] for row in rows if row["error"]}
        for row in [
            row for row in rows if row["name"] not in results and is_complete(self.out / row["name"], self.digest)
        ]:
            results[row["name"]] = None  # a retried batch: finished before a crash
        todo = [row for row in rows if row["name"] not in results]
        for task, query in dict.fromkeys((row["task"], row["query"]) for row in todo):  # one prompt per call
            group = [row for row in todo if (row["task"], row["query"]) == (task, query)]
            results |= self._summarize(group, task, query)
        return {
            "name": [row["name"] for row in rows],
            "video": [row["video"] for row in rows],
            "source": [row.get("source") or "" for row in rows],
            "status": ["failed" if results[row["name"]] else "ok" for row in rows],
            "error": [results[row["name"]] or "" for row in rows],
        }

    def _summarize(self, group: list[dict], task, query) -> dict[str, str | None]:
        """`{name: error or None}` for rows that share a task and query."""
        if self.summarizer.settings.window_seconds:
            done = {}
            for row in group:
                try:
                    summary, first = self.summarizer.summarize_windows(row["video"], task, query, progress=False)
                except VideoDecodingError as error:
                    done[row["name"]] = error.reason
                except LimitError as error:
                    done[row["name"]] = str(error)
                else:
                    done[row["name"]] = self._write(row, first, summary)
            return done
        videos = [DecodedVideo(frames=_frames(row["frames"]), **json.loads(row["timing"])) for row in group]
        summaries = self.summarizer.summarize(videos, task, query)
        return {row["name"]: self._write(row, video, summary) for row, video, summary in zip(group, videos, summaries)}

    def _write(self, row: dict, video: DecodedVideo, summary) -> str | None:
        folder = OutputFolder(self.out, row["name"])
        if not folder.claim():
            return None  # another worker has it
        try:
            return self.summarizer.write(summary, video, folder, self.exports, self.extra)[1]
        except (OSError, ValueError) as error:
            return f"writing outputs to {folder.final} failed: {error}"
        finally:
            folder.release()


__all__ = ["summarize_dataset", "SummarizerActor"]
