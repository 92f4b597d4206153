"""`v2xum evaluate`: a model and a predictions file give the same numbers; baselines; every output file."""

import json

import pytest

from v2xum.cli import main as v2xum
from v2xum.testing import write_numbered_video


@pytest.fixture(scope="module")
def test_split(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_data")
    rows = []
    for i, task in enumerate(["video", "both", "text", "both"]):
        write_numbered_video(root / f"t{i}.mp4", 30 + 5 * i, fps=10)
        rows.append(
            {
                "video": f"t{i}.mp4",
                "task": task,
                "sentences": [
                    {"text": "A square appears.", "seconds": [0.5]},
                    {"text": f"It moves {i} times.", "seconds": [2.0]},
                ],
            }
        )
    (root / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    return root


def test_model_then_predictions_file(keyframe_model_dir, tiny_clip_dir, test_split, tmp_path, capsys):
    out = tmp_path / "eval"
    code = v2xum(
        [
            "evaluate",
            "--model",
            str(keyframe_model_dir),
            "--data",
            str(test_split),
            "--split",
            "test",
            "--out",
            str(out),
            "--clip-model",
            str(tiny_clip_dir),
            "--baselines",
            "--max-new-tokens",
            "12",
            "--num-frames",
            "8",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert {p.name for p in out.iterdir()} == {"results.json", "results.md", "model_index.json", "predictions.jsonl"}
    record = json.loads((out / "results.json").read_text())
    results = record["results"]
    assert record["num_examples"] == 4 and set(results) == {"video", "text", "both"}
    assert set(results["video"]) == {"model", "random", "uniform"}
    assert {"keyframe_f1_max", "kendall_tau", "spearman_rho", "fclip", "modality_accuracy"} <= set(
        results["video"]["model"]
    )
    assert {"bleu4", "rouge_l", "cider", "cross_fclip", "vt_clipscore"} <= set(results["both"]["model"])
    assert "fclip" not in results["text"]["model"]
    # The keyframe-biased tiny model names keyframes for VIDEO/BOTH and, constrained, none for TEXT.
    assert results["video"]["model"]["modality_accuracy"] == 1.0
    assert results["text"]["model"]["modality_accuracy"] == 1.0
    assert "| model |" in (out / "results.md").read_text()
    entries = json.loads((out / "model_index.json").read_text())
    assert {"task_type", "dataset_name", "dataset_split", "metric_type", "metric_value"} <= set(entries[0])
    assert entries[0]["dataset_split"] == "test"

    # Per task its own model-index result (the task is the dataset config); the dataset is named by its folder.
    assert {(e["dataset_config"], e["task_name"]) for e in entries} == {
        (task, f"Video summarization ({task.upper()})") for task in ("video", "text", "both")
    }
    assert {e["dataset_name"] for e in entries} == {test_split.name}
    assert not any(e["dataset_config"] == "text" and e["metric_type"] == "fclip" for e in entries)

    # Re-scoring the predictions, with no sampling options, gives exactly the numbers of the run that wrote them:
    # the file records the frames the model saw (8 here, not the default).
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert {row["frames"]["num_frames"] for row in rows} == {8} and all(len(r["frames"]["timestamps"]) for r in rows)
    again = tmp_path / "again"
    assert (
        v2xum(
            [
                "evaluate",
                "--predictions",
                str(out / "predictions.jsonl"),
                "--data",
                str(test_split / "test.jsonl"),
                "--out",
                str(again),
                "--clip-model",
                str(tiny_clip_dir),
                "--baselines",
            ]
        )
        == 0
    )
    assert json.loads((again / "results.json").read_text())["results"] == results


def test_evaluate_argument_errors(tiny_clip_dir, test_split, tmp_path, capsys):
    assert (
        v2xum(
            ["evaluate", "--data", str(test_split), "--out", str(tmp_path / "o"), "--clip-model", str(tiny_clip_dir)]
        )
        == 2
    )
    assert "give --model" in capsys.readouterr().err
    bad = tmp_path / "preds.jsonl"
    bad.write_text(
        json.dumps(
            {"video": "elsewhere.mp4", "task": "video", "text": "", "raw_text": "", "sentences": [], "keyframes": []}
        )
    )
    assert (
        v2xum(
            [
                "evaluate",
                "--predictions",
                str(bad),
                "--data",
                str(test_split),
                "--out",
                str(tmp_path / "p"),
                "--clip-model",
                str(tiny_clip_dir),
            ]
        )
        == 2
    )
    assert "has no prediction for 4 example(s)" in capsys.readouterr().err


def test_evaluating_on_training_videos_is_flagged(keyframe_model_dir, tiny_clip_dir, test_split, tmp_path, capsys):
    import shutil

    from v2xum.training_data import write_training_videos

    model = tmp_path / "model"
    shutil.copytree(keyframe_model_dir, model)
    copy = tmp_path / "renamed.mp4"  # the same bytes under another name still count
    shutil.copyfile(test_split / "t1.mp4", copy)
    write_training_videos([str(copy), str(test_split / "t3.mp4")], model, "train.jsonl")
    assert (
        v2xum(
            [
                "evaluate",
                "--model",
                str(model),
                "--data",
                str(test_split),
                "--out",
                str(tmp_path / "e"),
                "--clip-model",
                str(tiny_clip_dir),
                "--max-new-tokens",
                "4",
                "--num-frames",
                "4",
            ]
        )
        == 0
    )
    assert "warning: 2 of the 4 evaluated videos are in the model's training data" in capsys.readouterr().err
    assert json.loads((tmp_path / "e" / "results.json").read_text())["videos_seen_in_training"] == 2
