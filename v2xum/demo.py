# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""`v2xum demo`: a generated StoryBoard video summarized by the committed demo model, end to end, beside its ground
truth."""

import json
import os
from pathlib import Path

import numpy as np

from .outputs import check_output_dir
from .resources import demo_model_dir
from .storyboard import make_video_example
from .summarize import ExportOptions, SummarizeSettings, load_pipeline, summarize_videos


def run_demo(
    out_dir: str | os.PathLike,
    model: str | os.PathLike | None = None,
    seed: int = 7,
    device: str = "cpu",
    overwrite: bool = False,
) -> tuple[dict, dict]:
    """Writes `out_dir/videos/storyboard_sample.mp4`, `out_dir/ground_truth.json` and the `v2xum summarize` outputs
    in `out_dir/storyboard_sample/`. Returns `(ground truth, summary record)`."""
    model = Path(model) if model else demo_model_dir()
    if not (model / "config.json").is_file():
        raise FileNotFoundError(
            f"no demo model at {model}; build it with the commands in configs/storyboard_tiny.yaml"
        )
    out = check_output_dir(out_dir, overwrite)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    truth = make_video_example(
        str(out / "videos" / "storyboard_sample.mp4"), np.random.default_rng(seed), "storyboard_sample"
    )
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=2))
    pipe = load_pipeline(str(model), device=device)
    report = summarize_videos(
        pipe,
        [str(out / truth["video"])],
        out,
        SummarizeSettings(max_new_tokens=64),
        ExportOptions(highlights=True),
        overwrite=True,
        extra={"model": str(model)},
    )
    if report.failures:
        raise ValueError("; ".join(f"{video}: {reason}" for video, reason in report.failures.items()))
    return truth, report.records[0]


def describe(truth: dict, summary: dict) -> str:
    """Ground truth and the model's summary side by side, one sentence a line with its seconds."""
    lines = ["what the video shows (ground truth):"]
    lines += [f"  {s['seconds'][0]:5.1f} s  {s['text']}" for s in truth["sentences"]]
    lines.append("what the model says:")
    seconds = {k["index"]: k["seconds"] for k in summary["keyframes"]}
    for sentence in summary["sentences"]:
        times = ", ".join(f"{seconds[i]:.1f} s" for i in sentence["keyframes"])
        lines.append(f"  {times:>7}  {sentence['text']}")
    return "\n".join(lines)


__all__ = ["run_demo", "describe"]
