# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Summarize a collection on a Ray cluster with Ray Data (`pip install "v2xum[ray]"`).

A CPU stage decodes and samples each video; an actor-pool stage holds the model (`num_gpus` per actor: one actor
per GPU) and writes each video's outputs with the same rules as `v2xum summarize`: claimed, written aside, moved into
place with `summary.json` last, skipped when already complete with the same settings. Actors that die are
restarted and their batches retried (a video finished before the crash is found complete, not redone). The driver
writes `index.jsonl`. A Ray run always resumes: outputs complete with the same settings are skipped, anything else
in their folders is replaced (the local engine's `--overwrite` / `--resume` choices do not apply).
"""

import json
import os
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from processing import DecodedVideo, VideoDecodingError, VideoSummary

from .collection import Job, OutputFolder, append_index, collect_jobs, is_complete
from .export import EXPORT_SHORTEST_EDGE, export_summary
from .summarize import ExportOptions, SummarizeReport, SummarizeSettings, load_pipeline, outputs_digest


def summarize_dataset(
    dataset,
    model: str,
    out_dir: str | os.PathLike,
    settings: SummarizeSettings | None = None,
    exports: ExportOptions | None = None,
    concurrency: int = 1,
    num_gpus: float = 0.0,
    device: str = "auto",
    actor_class: type | None = None,
) -> SummarizeReport:
    """`dataset`: a `ray.data.Dataset` with a `video` column (paths or URLs; optional `id`, `task`, `query`).
    `concurrency` actors hold the model, each with `num_gpus` GPUs. Returns the run's report."""
    from transformers import AutoProcessor

    settings, exports = settings or SummarizeSettings(), exports or ExportOptions()
    processor = AutoProcessor.from_pretrained(model)  # the model's frame count and size, as `summarize_videos` uses
    settings = replace(settings, num_frames=settings.num_frames or processor.video_processor.num_frames)
    processor.check_frame_count(settings.num_frames)
    decode_edge = max(EXPORT_SHORTEST_EDGE, processor.video_processor.resize_edge() or 0)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = dataset.take_all()  # paths and names only: what the driver needs to name every output
    jobs = _jobs(rows)
    digest = outputs_digest(model, settings, exports)
    report = SummarizeReport()
    for job in [job for job in jobs if job.error]:
        report.failures[job.video] = job.error
        append_index(out, _record(job, "failed", job.error, digest))
    import ray.data

    todo = ray.data.from_items([asdict(job) for job in jobs if not job.error])
    decoded = todo.map(_decode_row, fn_kwargs={"settings": asdict(settings), "shortest_edge": decode_edge})
    results = decoded.map_batches(
        actor_class or SummarizerActor,
        fn_constructor_kwargs={
            "model": model,
            "out_dir": str(out),
            "settings": asdict(settings),
            "exports": asdict(exports),
            "digest": digest,
            "device": device,
        },
        batch_size=settings.batch_size,
        batch_format="pandas",
        concurrency=concurrency,
        num_gpus=num_gpus,
    )
    for row in results.take_all():
        job = Job(row["video"], row["name"])
        append_index(out, _record(job, row["status"], row["error"] or None, digest))
        if row["status"] != "ok":
            report.failures[job.video] = row["error"]
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
        job.task, job.query = row.get("task") or None, row.get("query") or None
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


def _decode_row(row: dict, settings: dict, shortest_edge: int | None) -> dict:
    """The CPU stage: one video decoded and sampled (frames plus their timing), or why it could not be."""
    from processing import V2XumVideoProcessor

    try:
        video = V2XumVideoProcessor.load_video(
            row["video"], settings["num_frames"], settings["decode_mode"], settings["fps"], shortest_edge
        )
    except VideoDecodingError as error:
        return {**row, "frames": np.zeros((0, 1, 1, 3), np.uint8), "timing": "{}", "error": error.reason}
    timing = {k: v for k, v in asdict(video).items() if k != "frames"}
    return {**row, "frames": video.frames, "timing": json.dumps(timing), "error": None}


def _frames(value) -> np.ndarray:
    """A row's frames as one `(T, H, W, 3)` array (Ray Data may hand variable-shaped tensors as nested arrays)."""
    value = np.asarray(value)
    return np.stack(list(value)) if value.dtype == object else value


class SummarizerActor:
    """The model stage: summarizes a batch of decoded videos and writes their outputs."""

    def __init__(self, model: str, out_dir: str, settings: dict, exports: dict, digest: str, device: str = "auto"):
        self.pipe = load_pipeline(model, device=device)
        self.out, self.settings, self.exports, self.digest = Path(out_dir), settings, exports, digest
        self.extra = {"model": model, "settings": settings, "settings_hash": digest}

    def __call__(self, batch):
        rows = batch.to_dict("records")
        results = {row["name"]: (row["error"], None) for row in rows if row["error"]}
        todo = [row for row in rows if not row["error"]]
        for row in [row for row in todo if is_complete(self.out / row["name"], self.digest)]:
            results[row["name"]] = (None, "done before")  # a retried batch: finished before a crash
        todo = [row for row in todo if row["name"] not in results]
        for task, query in dict.fromkeys((row["task"], row["query"]) for row in todo):  # one prompt per call
            group = [row for row in todo if (row["task"], row["query"]) == (task, query)]
            videos = [DecodedVideo(frames=_frames(row["frames"]), **json.loads(row["timing"])) for row in group]
            s = self.settings
            outputs = self.pipe(
                videos,
                batch_size=len(videos),
                task=task or s["task"],
                query=query or s["query"],
                num_frames=s["num_frames"],
                fps=s["fps"],
                max_keyframes=s["max_keyframes"],
                max_new_tokens=s["max_new_tokens"],
            )
            for row, video, output in zip(group, videos, outputs):
                results[row["name"]] = (self._write(row, video, VideoSummary.from_dict(output)), None)
        return {
            "name": [row["name"] for row in rows],
            "video": [row["video"] for row in rows],
            "status": ["failed" if results[row["name"]][0] else "ok" for row in rows],
            "error": [results[row["name"]][0] or "" for row in rows],
        }

    def _write(self, row: dict, video: DecodedVideo, summary: VideoSummary) -> str | None:
        folder = OutputFolder(self.out, row["name"])
        if not folder.claim():
            return None  # another worker has it
        try:
            export_summary(summary, video, folder.work, extra=self.extra, **self.exports)
            folder.commit()
            return None
        except (OSError, ValueError) as error:
            return f"writing outputs to {folder.final} failed: {error}"
        finally:
            folder.release()


__all__ = ["summarize_dataset", "SummarizerActor"]
