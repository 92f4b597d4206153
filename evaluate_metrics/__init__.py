# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""V2Xum metrics. Each sub-folder is an `evaluate` module (`evaluate.load("evaluate_metrics/fclip")`) with its metric
card; the shared math is in `scoring` (FCLIP, F1 protocols, KTS, knapsack), `text_scoring` (caption metrics) and
`clip_backends` (CLIP embeddings from transformers or open_clip)."""

# Each module folder runs on its own (`evaluate.load` copies a module with the files it imports relatively; a metric
# Space has no package): it holds copies of the shared files it imports, written by `python -m evaluate_metrics`.
SHARED_FILES = {
    "fclip": ("scoring.py", "clip_backends.py"),
    "cross_fclip": ("scoring.py", "clip_backends.py"),
    "video_summary_f1": ("scoring.py",),
    "video_summary_text": ("scoring.py", "text_scoring.py"),
}
COPY_HEADER = (
    "# A copy of evaluate_metrics/{name}, so that this folder runs on its own: edit that file, then run\n"
    "# `python -m evaluate_metrics` to refresh the copies.\n"
)


def shared_copy(name: str) -> str:
    """The text of a module folder's copy of the shared file `name`."""
    from pathlib import Path

    return COPY_HEADER.format(name=name) + (Path(__file__).parent / name).read_text(encoding="utf-8")
