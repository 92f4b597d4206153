"""Summarizing collections: names that never collide, manifests, concurrent runs, kills and resuming."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from v2xum.cli import main as v2xum
from v2xum.collection import collect_jobs
from v2xum.outputs import output_names, read_index
from v2xum.testing import write_numbered_video


def run_args(model, out, *inputs, extra=()):
    return [
        "summarize",
        *map(str, inputs),
        "--model",
        str(model),
        "--out",
        str(out),
        "--max-new-tokens",
        "6",
        "--max-keyframes",
        "2",
        *extra,
    ]


def summaries(out) -> dict[str, dict]:
    """Each complete output folder's summary.json, by folder name."""
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/summary.json")}


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    root = tmp_path_factory.mktemp("collection")
    paths = []
    for n, relative in enumerate(
        ["a/clip.mp4", "b/clip.mp4", "c/clip-2.mp4", "d/talk.mp4", "d/talk.mkv", "e/x-2.mp4"]
    ):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        paths.append(write_numbered_video(root / relative, 10 + n, fps=10, gop=5))
    return root, paths


def test_names_never_collide(collection):
    root, paths = collection
    assert output_names(paths) == ["a__clip", "b__clip", "clip-2", "talk.mp4", "talk.mkv", "x-2"]
    assert output_names(["/v/x.mp4", "/w/x.mp4", "/u/x__y.mp4"]) == ["v__x", "w__x", "x__y"]
    assert output_names(["/v/a__x.mp4", "/a/x.mp4", "/b/x.mp4"]) == ["a__x", "a__x~2", "b__x"]
    assert [j.name for j in collect_jobs([str(root)])] == [
        "a__clip",
        "b__clip",
        "clip-2",
        "talk.mkv",
        "talk.mp4",
        "x-2",
    ]


def test_every_video_lands_in_its_own_folder(keyframe_model_dir, collection, tmp_path):
    root, paths = collection
    out = tmp_path / "out"
    assert v2xum(run_args(keyframe_model_dir, out, root)) == 0
    written = summaries(out)
    assert len(written) == len(paths)
    for name, record in written.items():
        assert os.path.abspath(record["video"]["path"]) in {os.path.abspath(p) for p in paths}
    assert {r["status"] for r in read_index(out).values()} == {"ok"} and len(read_index(out)) == len(paths)
    assert not list((out / ".v2xum" / "claims").iterdir())  # every claim released


def test_an_output_path_that_is_a_file_fails_that_video_only(keyframe_model_dir, collection, tmp_path, capsys):
    root, paths = collection
    out = tmp_path / "out"
    out.mkdir()
    (out / "clip-2").write_text("not a folder")
    assert v2xum(run_args(keyframe_model_dir, out, *paths[:3])) == 1
    assert "clip-2 is a file, not a folder" in capsys.readouterr().err
    assert set(summaries(out)) == {"a__clip", "b__clip"}


def test_manifest_rows_with_problems_are_reported_and_the_rest_run(keyframe_model_dir, collection, tmp_path, capsys):
    root, paths = collection
    manifest = tmp_path / "list.jsonl"
    manifest.write_text(
        "\n".join(
            [
                json.dumps({"video": paths[0], "id": "first", "task": "text"}),
                json.dumps({"video": "missing.mp4", "id": "gone"}),
                "this is not json",
                json.dumps({"id": "no-video"}),
                json.dumps({"video": paths[3], "task": "audio"}),
                json.dumps({"video": paths[5], "query": "the white band"}),
            ]
        )
        + "\n"
    )
    out = tmp_path / "out"
    assert v2xum(run_args(keyframe_model_dir, out, extra=["--manifest", str(manifest)])) == 1
    err = capsys.readouterr().err
    assert f"{manifest} row 3: 'video' must be a path" in err and f"{manifest} row 4: 'video'" in err
    assert f"{manifest} row 5: 'task' must be one of" in err
    assert f"{manifest} row 2 ({manifest.parent / 'missing.mp4'}): file not found" in err  # row and video named
    written = summaries(out)
    assert set(written) == {"first", "x-2"} and written["first"]["task"] == "text"
    index = read_index(out)
    assert index["gone"]["status"] == "failed" and index["first"]["status"] == "ok"


def test_concurrent_runs_split_the_work(keyframe_model_dir, collection, tmp_path):
    root, paths = collection
    out = tmp_path / "out"
    command = [sys.executable, "-m", "v2xum.cli", *run_args(keyframe_model_dir, out, root)]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [run.communicate(timeout=300) for run in runs]
    assert all(run.returncode == 0 for run in runs), [r[1][-2000:] for r in results]
    lines = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert sorted(line["output"] for line in lines) == sorted(output_names(paths))  # each video exactly once
    assert all(line["status"] == "ok" for line in lines)
    for name, record in summaries(out).items():  # no folder mixes two runs
        assert record["settings_hash"] == lines[0]["settings_hash"]
        assert output_names(paths)[[os.path.abspath(p) for p in paths].index(record["video"]["path"])] == name


@pytest.mark.parametrize("kill_after,kill", [(0.0, signal.SIGKILL), (0.03, signal.SIGKILL), (0.015, signal.SIGINT)])
def test_kill_then_resume_gives_the_uninterrupted_outputs(keyframe_model_dir, collection, tmp_path, kill_after, kill):
    root, paths = collection
    reference = tmp_path / "reference"
    assert v2xum(run_args(keyframe_model_dir, reference, root, extra=["--highlights"])) == 0
    out = tmp_path / "out"
    command = [sys.executable, "-m", "v2xum.cli", *run_args(keyframe_model_dir, out, root, extra=["--highlights"])]
    killed = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "index.jsonl").exists() and time.time() < deadline:  # mid-run: after the first video
        time.sleep(0.02)
    time.sleep(kill_after)
    killed.send_signal(kill)
    killed.wait()
    for folder in [p for p in out.iterdir() if p.is_dir() and p.name != ".v2xum"]:  # whatever is there is complete
        record = json.loads((folder / "summary.json").read_text())
        assert set(record["files"].values()) <= {p.name for p in folder.iterdir()}
    assert len(summaries(out)) < len(paths)  # really interrupted
    if kill == signal.SIGINT:  # an interrupted run cleans up after itself: no claim, no half-written folder
        assert not list((out / ".v2xum" / "claims").glob("*")) and not list((out / ".v2xum" / "work").glob("*"))
    assert v2xum(run_args(keyframe_model_dir, out, root, extra=["--highlights", "--resume"])) == 0

    def comparable(record):
        return {k: v for k, v in record.items() if k not in ("settings",)} | {"video": record["video"]["path"]}

    assert {k: comparable(v) for k, v in summaries(out).items()} == {
        k: comparable(v) for k, v in summaries(reference).items()
    }
    ok = [
        json.loads(line)
        for line in (out / "index.jsonl").read_text().splitlines()
        if line.strip().endswith("}") and json.loads(line)["status"] == "ok"
    ]
    assert sorted(line["output"] for line in ok) == sorted(output_names(paths))  # each video done exactly once


def test_two_processes_share_the_collection(keyframe_model_dir, collection, tmp_path):
    """torchrun with gloo on the CPU, as `accelerate launch` sets up several GPUs (accelerate's own CPU mode needs
    MPI): accelerate's PartialState splits the videos."""
    root, paths = collection
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    assert v2xum(run_args(keyframe_model_dir, single, root)) == 0
    launch = [
        os.path.join(os.path.dirname(sys.executable), "torchrun"),
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "v2xum.cli",
        *run_args(keyframe_model_dir, sharded, root),
    ]
    result = subprocess.run(launch, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in (sharded / "index.jsonl").read_text().splitlines()]
    assert sorted(line["output"] for line in lines) == sorted(output_names(paths))  # each video exactly once
    assert len({line["pid"] for line in lines}) == 2  # both processes worked
    assert {k: v["keyframes"] for k, v in summaries(sharded).items()} == {
        k: v["keyframes"] for k, v in summaries(single).items()
    }


def test_failed_videos_are_retried_only_when_asked(keyframe_model_dir, collection, tmp_path, capsys):
    root, paths = collection
    late = tmp_path / "late.mp4"
    manifest = tmp_path / "list.csv"
    manifest.write_text(f"video,id\n{paths[0]},first\n{late},late\n")
    out = tmp_path / "out"
    assert v2xum(run_args(keyframe_model_dir, out, extra=["--manifest", str(manifest)])) == 1
    assert read_index(out)["late"]["status"] == "failed"
    write_numbered_video(late, 12, fps=10)  # the missing file appears
    capsys.readouterr()
    # Resumed: the done one skipped; the failed one not retried, and still reported as failed (exit 1).
    assert v2xum(run_args(keyframe_model_dir, out, extra=["--manifest", str(manifest), "--resume"])) == 1
    err = capsys.readouterr().err
    assert "failed in an earlier run: " in err and "(--retry-failed tries it again)" in err
    assert set(summaries(out)) == {"first"}
    assert (
        v2xum(run_args(keyframe_model_dir, out, extra=["--manifest", str(manifest), "--resume", "--retry-failed"]))
        == 0
    )
    assert set(summaries(out)) == {"first", "late"} and read_index(out)["late"]["status"] == "ok"
