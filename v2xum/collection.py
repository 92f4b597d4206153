# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""What a collection is: video paths or URLs, folders of videos, a manifest (JSONL or CSV), each a `Job` with the
name of its output folder (`v2xum.outputs.output_names`: collision-free). Two inputs with one name are an error.
Where the outputs go and how they appear is `v2xum.outputs`."""

import csv
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from processing.summary import SUMMARY_TASKS
from processing.video_decoding import is_url

from .outputs import output_names, safe_relative_name, video_key


VIDEO_SUFFIXES = (
    ".mp4",
    ".mkv",
    ".webm",
    ".avi",
    ".mov",
    ".m4v",
    ".ts",
    ".m2ts",
    ".mts",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".flv",
    ".3gp",
)


@dataclass
class Job:
    """One video to summarize. A manifest row that cannot be one has `error` set (reported in the index, not run)."""

    video: str
    name: str
    task: str | None = None
    query: str | None = None
    error: str | None = None
    source: str | None = None  # where it was listed (a manifest's file and row), when not on the command line

    @property
    def label(self) -> str:
        """How reports name it: its video, and its manifest row when it has one (two rows of one video are two
        jobs)."""
        return f"{self.source} ({self.video})" if self.source else self.video


def collect_jobs(inputs: list[str], manifest: str | None = None, pattern: str = "**/*") -> list[Job]:
    """Jobs for video paths or URLs, folders (their files matching `pattern` with a video suffix, sorted) and a
    manifest (JSONL or CSV with a `video` column; optional `id`, `task`, `query`; relative paths start from the
    manifest's folder). Names are collision-free (see the module docstring)."""
    videos = []
    for item in inputs:
        path = Path(item)
        if not is_url(item) and path.is_dir():
            found = sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"{item}: no video files matching '{pattern}'")
            videos += [str(p) for p in found]
        else:
            videos.append(item)
    # A video given twice, however spelled (another path to the file, a URL with another signature), is done once.
    videos = list({video_key(video): video for video in reversed(videos)}.values())[::-1]
    jobs = [Job(video, name) for video, name in zip(videos, output_names(videos))]
    if manifest:
        jobs += read_manifest(manifest)
    counts = Counter(job.name for job in jobs if job.error is None)
    duplicates = sorted(name for name, count in counts.items() if count > 1)
    if duplicates:
        raise ValueError(f"two inputs would write to the same output folder: {duplicates[:5]} (give distinct ids)")
    return jobs


def read_manifest(path: str) -> list[Job]:
    """The rows of a JSONL or CSV manifest as jobs; a bad row becomes a job with `error` naming file, row and field."""
    base = os.path.dirname(os.path.abspath(path))
    # utf-8-sig: a spreadsheet's CSV starts with a byte-order mark, which must not become part of the first column.
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        if path.lower().endswith(".csv"):
            rows = [(n, dict(row)) for n, row in enumerate(csv.DictReader(f), start=2)]
        else:
            rows = [(n, _json_row(line)) for n, line in enumerate(f, start=1) if line.strip()]
    if not rows:
        raise ValueError(f"{path} holds no rows: a manifest lists the videos to summarize (a 'video' column)")
    jobs = []
    for line, row in rows:
        where = f"{path} row {line}"
        video = row.get("video") if isinstance(row, dict) else None
        if not isinstance(video, str) or not video:
            shown = row if not isinstance(row, dict) else row.get("video")
            jobs.append(
                Job(str(shown), f"row-{line}", error=f"{where}: 'video' must be a path, got {shown!r}", source=where)
            )
            continue
        video = video if is_url(video) or os.path.isabs(video) else os.path.join(base, video)
        task, query, name = row.get("task") or None, row.get("query") or None, row.get("id") or None
        error = None
        if task is not None and task not in SUMMARY_TASKS:
            error = f"{where}: 'task' must be one of {SUMMARY_TASKS}, got {task!r}"
        elif query is not None and not isinstance(query, str):
            error = f"{where}: 'query' must be text, got {query!r}"
        elif name is not None and (not isinstance(name, str) or safe_relative_name(name) is None):
            error = f"{where}: 'id' must be a relative name inside the output folder, got {name!r}"
        name = safe_relative_name(name) if name and not error else None
        jobs.append(Job(video, name or output_names([video])[0], task, query, error, where))
    return jobs


def _json_row(line: str):
    try:
        return json.loads(line)
    except json.JSONDecodeError as failure:
        return f"not JSON ({failure.msg})"


__all__ = ["Job", "collect_jobs", "read_manifest", "VIDEO_SUFFIXES"]
