"""Every way in gives the pipeline's answer: the same StoryBoard videos summarized by `pipe(path)`, by `v2xum
summarize` (one process, two processes), by the app's work, by `v2xum demo`'s path and by `v2xum evaluate`, give
identical text, keyframes and seconds; long videos by windows too. (Ray: tests/test_ray.py; the app over HTTP:
tests/test_app.py.)"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from transformers import pipeline

import modeling_v2xum  # noqa: F401  (registers the task)
from v2xum.app import SummaryApp
from v2xum.cli import main as v2xum
from v2xum.evaluation import run_evaluation
from v2xum.resources import demo_model_dir
from v2xum.storyboard import make_storyboard, make_video_example
from v2xum.summarize import ExportOptions, SummarizeSettings, VideoSummarizer, load_pipeline, summarize_videos
from v2xum.training_data import load_training_examples


TOKENS = 64


def answer(summary: dict) -> tuple:
    """What must be identical: the text, and each keyframe's sampled index, source frame and seconds."""
    return summary["text"], [(k["index"], k["frame_index"], round(k["seconds"], 6)) for k in summary["keyframes"]]


@pytest.fixture(scope="module")
def storyboard(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine")
    make_storyboard(root / "sb", n_videos=12, seed=11)
    examples = [e for e in load_training_examples(root / "sb" / "test.jsonl") if e["task"] == "both"][:3]
    make_video_example(str(root / "long.mp4"), np.random.default_rng(5), "long", stories=3)
    return root, [e["video"] for e in examples], examples, str(root / "long.mp4")


@pytest.fixture(scope="module")
def reference(storyboard):
    """The pipeline, called as a user would."""
    _, videos, _, long = storyboard
    pipe = pipeline("video-summarization", model=str(demo_model_dir()), device="cpu")
    return (
        pipe,
        {v: answer(pipe(v, task="both", max_new_tokens=TOKENS)) for v in videos},
        answer(pipe(long, task="both", window_seconds=5.0, max_new_tokens=TOKENS, batch_size=2)),
    )


def outputs(out, videos) -> dict:
    by_path = {}
    for record in (json.loads(p.read_text()) for p in out.glob("*/summary.json")):
        by_path[record["video"]["path"]] = answer(record)
    return {v: by_path[v] for v in videos}


def test_the_command_line_in_one_and_two_processes(storyboard, reference, tmp_path):
    _, videos, _, long = storyboard
    _, expected, expected_long = reference
    common = ["--model", str(demo_model_dir()), "--task", "both", "--max-new-tokens", str(TOKENS), "--device", "cpu"]
    assert v2xum(["summarize", *videos, "--out", str(tmp_path / "one"), "--batch-size", "2", *common]) == 0
    assert outputs(tmp_path / "one", videos) == expected
    bin_dir = os.path.dirname(sys.executable)
    command = [
        os.path.join(bin_dir, "torchrun"),
        "--nproc_per_node",
        "2",
        "--master_port",
        "29541",
        "-m",
        "v2xum.cli",
        "summarize",
        *videos,
        "--out",
        str(tmp_path / "two"),
        *common,
    ]
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert outputs(tmp_path / "two", videos) == expected
    assert (
        v2xum(
            ["summarize", long, "--out", str(tmp_path / "long"), "--window-seconds", "5", "--batch-size", "2", *common]
        )
        == 0
    )
    assert outputs(tmp_path / "long", [long]) == {long: expected_long}


def test_the_app_the_demo_and_evaluate(storyboard, reference, tmp_path):
    root, videos, examples, long = storyboard
    pipe, expected, expected_long = reference
    # The engine decodes what the pipeline's video processor decodes, pixel for pixel.
    engine = VideoSummarizer(pipe)
    for video in videos:
        frames, _ = pipe.processor.video_processor.fetch_videos(video)
        assert np.array_equal(engine.decode(video).frames, frames)
    app = SummaryApp(str(demo_model_dir()), device="cpu", work_dir=tmp_path / "app")
    for video in videos:
        assert answer(app.summarize(video, task="both").record) == expected[video]
    assert answer(app.summarize(long, task="both", window_seconds=5.0).record) == expected_long

    # `v2xum demo`'s path: the demo's settings through the engine, on these videos.
    demo = summarize_videos(
        load_pipeline(str(demo_model_dir()), device="cpu"),
        videos,
        tmp_path / "demo",
        SummarizeSettings(max_new_tokens=TOKENS),
        ExportOptions(highlights=True),
    )
    assert {r["video"]["path"]: answer(r) for r in demo.records} == expected

    from evaluate_metrics.clip_backends import ClipEmbedder

    embedder = ClipEmbedder(str(demo_model_dir()), backend="v2xum_tower", device="cpu")
    run_evaluation(
        examples,
        tmp_path / "eval",
        model=str(demo_model_dir()),
        clip_embedder=embedder,
        batch_size=2,
        max_new_tokens=TOKENS,
    )
    predictions = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert {p["video"]: answer(p) for p in predictions} == expected
