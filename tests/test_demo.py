"""The committed StoryBoard demo model and `v2xum demo`."""

import json

import numpy as np
import pytest
from transformers import pipeline

from v2xum.cli import main as v2xum
from v2xum.resources import demo_model_dir
from v2xum.storyboard import make_video_example


@pytest.fixture(scope="module")
def demo_pipeline():
    return pipeline("video-summarization", model=str(demo_model_dir()))


def test_demo_model_on_three_fixed_videos(demo_pipeline, tmp_path):
    """Seeds 100-102 (fixed, not chosen for the model): one keyframe inside each event scene, in order, one
    sentence per event, and 9 of the 10 sentences exactly right (motion direction is the usual miss; 8 before frame
    sampling switched to the released rule and frames were decoded straight to the model's 32 px)."""
    exact = total = 0
    for seed in (100, 101, 102):
        truth = make_video_example(str(tmp_path / f"{seed}.mp4"), np.random.default_rng(seed), str(seed))
        summary = demo_pipeline(str(tmp_path / f"{seed}.mp4"), task="both")
        events = [(s["start"], s["end"]) for s in truth["scenes"] if s["kind"] == "event"]
        assert len(summary["keyframes"]) == len(events) == len(summary["sentences"])
        for keyframe, (start, end) in zip(summary["keyframes"], events):
            assert start <= keyframe["seconds"] < end
        said = [s["text"] for s in summary["sentences"]]
        exact += sum(a == b["text"] for a, b in zip(said, truth["sentences"]))
        total += len(events)
    assert (exact, total) == (9, 10)


def test_each_task_gives_its_modality(demo_pipeline, tmp_path):
    make_video_example(str(tmp_path / "v.mp4"), np.random.default_rng(100), "v")
    video = demo_pipeline(str(tmp_path / "v.mp4"), task="video")
    text = demo_pipeline(str(tmp_path / "v.mp4"), task="text")
    assert video["keyframes"] and text["text"] and not text["keyframes"]


def test_v2xum_demo_writes_every_output(tmp_path, capsys):
    out = tmp_path / "demo"
    assert v2xum(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "what the video shows (ground truth):" in printed and "what the model says:" in printed
    folder = out / "storyboard_sample"
    assert {p.name for p in folder.iterdir()} == {"summary.json", "summary.srt", "summary.vtt", "contact_sheet.png",
                                                   "timeline.png", "highlights.mp4"}
    assert json.loads((folder / "summary.json").read_text())["keyframes"]
    assert (out / "ground_truth.json").exists()
    assert v2xum(["demo", "--out", str(out)]) == 2  # an existing demo folder is not overwritten silently
