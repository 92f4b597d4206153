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
    get right, as measured for the shipped model (stage 1 then stage 2 on the 3000-video set): all 32 keyframes
    inside an event scene, all 30 events found, every sentence with its keyframe; of the sentences in event order,
    the size right 29 times of 30, the colour 29, the shape 30, the motion 29, colour, shape and motion together 29
    (the previous demo, one stage on 698 videos: shape 14)."""
    keyframes = inside = events_found = events = 0
    words = {"size": 0, "colour": 0, "shape": 0, "motion": 0, "colour, shape and motion": 0}
    sentences_without_keyframe = 0
    for seed in range(100, 110):
        truth = make_video_example(str(tmp_path / f"{seed}.mp4"), np.random.default_rng(seed), str(seed))
        summary = demo_pipeline(str(tmp_path / f"{seed}.mp4"), task="both")
        spans = [(s["start"], s["end"]) for s in truth["scenes"] if s["kind"] == "event"]
        seconds = [k["seconds"] for k in summary["keyframes"]]
        keyframes, events = keyframes + len(seconds), events + len(spans)
        inside += sum(any(a <= t < b for a, b in spans) for t in seconds)
        events_found += sum(any(a <= t < b for t in seconds) for a, b in spans)
        sentences_without_keyframe += sum(not sentence["keyframes"] for sentence in summary["sentences"])
        for said, scene in zip(summary["sentences"], [s for s in truth["scenes"] if s["kind"] == "event"]):
            named = {
                a: f" {scene[a]} " in f" {said['text'].rstrip('.')} " for a in ("size", "colour", "shape", "motion")
            }
            for attribute, right in named.items():
                words[attribute] += right
            words["colour, shape and motion"] += named["colour"] and named["shape"] and named["motion"]
    assert (inside, keyframes, events_found, events, sentences_without_keyframe) == (32, 32, 30, 30, 0)
    assert words == {"size": 29, "colour": 29, "shape": 30, "motion": 29, "colour, shape and motion": 29}


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
