"""Data folders that `datasets.load_dataset` loads (StoryBoard's, the converters'), training and evaluation from
them, and `datasets.Video` values wherever a video path goes."""

import json

import datasets
import pytest
from transformers import pipeline

import train_sft
from v2xum.cli import main as v2xum
from v2xum.dataset_folders import load_dataset_rows
from v2xum.storyboard import make_storyboard
from v2xum.testing import write_numbered_video


@pytest.fixture(scope="module")
def storyboard(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "storyboard"
    splits = make_storyboard(folder, n_videos=24, seed=2)
    return folder, splits


def test_a_storyboard_folder_loads_with_datasets(storyboard):
    folder, splits = storyboard
    loaded = datasets.load_dataset(str(folder))
    assert set(loaded) == {
        split for split, name in (("train", "train"), ("validation", "val"), ("test", "test")) if splits[name]
    }
    assert len(loaded["train"]) == 3 * len(splits["train"])  # one row per video and task
    assert loaded["train"][0]["video"] == splits["train"][0]["video"]  # relative to the folder
    captions = datasets.load_dataset(str(folder), "align")["train"]
    assert len(captions) == sum(len(e["scenes"]) for e in splits["train"]) and set(captions.column_names) == {
        "video",
        "start",
        "end",
        "caption",
    }
    rows = load_dataset_rows(str(folder), "test")  # validated, videos found from the folder
    assert len(rows) == 3 * len(splits["test"]) and all(v.startswith(str(folder)) for v in rows["video"])


def test_train_and_evaluate_from_a_dataset_folder(storyboard, tmp_path):
    folder, _ = storyboard
    base = tmp_path / "base"
    assert v2xum(["storyboard", "init-model", str(base)]) == 0
    common = [
        "--model_name_or_path",
        str(base),
        "--dataset_name",
        str(folder),
        "--num_frames",
        "8",
        "--per_device_train_batch_size",
        "4",
        "--max_steps",
        "2",
        "--bf16",
        "false",
        "--report_to",
        "none",
        "--save_strategy",
        "no",
        "--max_length",
        "512",
    ]
    trainer = train_sft.run([*common, "--output_dir", str(tmp_path / "sft")])
    assert trainer.state.global_step == 2 and len(trainer.train_dataset) == len(
        datasets.load_dataset(str(folder))["train"]
    )
    aligned = train_sft.run([*common, "--stage", "align", "--output_dir", str(tmp_path / "aligned")])
    assert set(aligned.train_dataset.column_names) >= {"caption", "start", "end"}  # the align config
    out = tmp_path / "eval"
    assert (
        v2xum(
            [
                "evaluate",
                "--model",
                str(tmp_path / "sft"),
                "--dataset",
                str(folder),
                "--split",
                "test",
                "--out",
                str(out),
                "--clip-model",
                str(tmp_path / "sft"),
                "--clip-backend",
                "v2xum_tower",
                "--num-frames",
                "8",
                "--max-new-tokens",
                "8",
                "--batch-size",
                "4",
            ]
        )
        == 0
    )
    predictions = (out / "predictions.jsonl").read_text().splitlines()
    assert len(predictions) == len(datasets.load_dataset(str(folder))["test"])
    assert json.loads((out / "results.json").read_text())["dataset"] == "storyboard"


def test_a_converted_folder_loads_with_datasets(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    annotations = []
    for i in range(3):
        write_numbered_video(videos / f"v{i}.mp4", 40, fps=10)
        annotations.append(
            {
                "video_id": f"v{i}",
                "duration": 4.0,
                "timestamps": [[0.0, 2.0], [2.0, 4.0]],
                "tsum": ["A square appears.", "It moves right."],
                "vsum_onehot": [[0, 1, 0, 1]] * 3,
            }
        )
    (tmp_path / "train_videoxum.json").write_text(json.dumps(annotations))
    (tmp_path / "test_videoxum.json").write_text(json.dumps(annotations[:1]))
    out = tmp_path / "videoxum"
    assert (
        v2xum(
            ["convert-data", "videoxum", str(tmp_path / "train_videoxum.json"), str(out), "--video-root", str(videos)]
        )
        == 0
    )
    assert (
        v2xum(
            [
                "convert-data",
                "videoxum",
                str(tmp_path / "test_videoxum.json"),
                str(out),
                "--video-root",
                str(videos),
                "--split",
                "test",
            ]
        )
        == 0
    )
    loaded = datasets.load_dataset(str(out))
    assert set(loaded) == {"train", "test"} and len(loaded["train"]) == 9 and len(loaded["test"]) == 3
    assert datasets.load_dataset(str(out), "align")["train"][0]["caption"] == "A square appears."
    assert len(load_dataset_rows(str(out), "train")) == 9  # the relative paths find the videos


def test_datasets_video_values_are_videos(storyboard, keyframe_model_dir, tmp_path):
    folder, _ = storyboard
    test = datasets.load_dataset(str(folder))["test"]
    as_video = test.map(lambda row: {"video": str(folder / row["video"])}).cast_column(
        "video", datasets.Video(decode=False)
    )
    value = as_video[0]["video"]
    assert set(value) == {"path", "bytes"}
    summarize = pipeline("video-summarization", model=str(keyframe_model_dir))
    expected = summarize(str(folder / test[0]["video"]), max_new_tokens=6)
    assert summarize(value, max_new_tokens=6) == expected
    only_bytes = {"path": "clip.mp4", "bytes": (folder / test[0]["video"]).read_bytes()}  # as streamed from a Hub
    assert summarize(only_bytes, max_new_tokens=6)["keyframes"] == expected["keyframes"]
    rows = load_dataset_rows(str(folder), "test")
    from v2xum.training_data import prepare_examples

    with_values = prepare_examples([{**row, "video": {"path": row["video"], "bytes": None}} for row in rows])
    assert list(with_values["video"]) == list(rows["video"])
