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


def test_demo_model_on_ten_fixed_videos(demo_pipeline, tmp_path):
    """Seeds 100-109 (fixed, not chosen for the model; 30 events): where its keyframes land and what its sentences
    get right, as measured for the shipped model (retrained on the StoryBoard v2 train split): 34 of 36 keyframes
    inside an event scene, 29 of 30 events found; of the sentences in event order, the size right 27 times of 30,
    the colour 26, the shape only 14 (the earlier demo named shapes better and placed keyframes worse)."""
    keyframes = inside = events_found = events = 0
    words = {"size": 0, "colour": 0, "shape": 0}
    for seed in range(100, 110):
        truth = make_video_example(str(tmp_path / f"{seed}.mp4"), np.random.default_rng(seed), str(seed))
        summary = demo_pipeline(str(tmp_path / f"{seed}.mp4"), task="both")
        spans = [(s["start"], s["end"]) for s in truth["scenes"] if s["kind"] == "event"]
        seconds = [k["seconds"] for k in summary["keyframes"]]
        keyframes, events = keyframes + len(seconds), events + len(spans)
        inside += sum(any(a <= t < b for a, b in spans) for t in seconds)
        events_found += sum(any(a <= t < b for t in seconds) for a, b in spans)
        for said, scene in zip(summary["sentences"], [s for s in truth["scenes"] if s["kind"] == "event"]):
            for attribute in words:
                words[attribute] += f" {scene[attribute]} " in f" {said['text']} "
    assert (inside, keyframes, events_found, events) == (34, 36, 29, 30)
    assert words == {"size": 27, "colour": 26, "shape": 14}


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
    assert {p.name for p in folder.iterdir()} == {
        "summary.json",
        "summary.srt",
        "summary.vtt",
        "contact_sheet.png",
        "timeline.png",
        "highlights.mp4",
    }
    assert json.loads((folder / "summary.json").read_text())["keyframes"]
    assert (out / "ground_truth.json").exists()
    assert v2xum(["demo", "--out", str(out)]) == 2  # an existing demo folder is not overwritten silently
