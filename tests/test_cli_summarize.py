"""`v2xum summarize`: every output file, valid, and clear failures with the right exit codes."""

import importlib.util
import json
import re
from pathlib import Path

import av
import pytest
from PIL import Image

from processing import VideoSummary
from v2xum.cli import main
from v2xum.export import GAP, LABEL_HEIGHT


SRT_BLOCK = re.compile(r"(\d+)\n(\d\d:\d\d:\d\d,\d\d\d) --> (\d\d:\d\d:\d\d,\d\d\d)\n(.+)\n")


def summarize(model_dir, out, *videos, extra=()):
    return main(
        [
            "summarize",
            *map(str, videos),
            "--model",
            str(model_dir),
            "--out",
            str(out),
            "--max-new-tokens",
            "12",
            "--max-keyframes",
            "3",
            *extra,
        ]
    )


def seconds(clock: str) -> float:
    h, m, s = clock.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def test_writes_every_file_and_they_are_valid(keyframe_model_dir, videos, tmp_path, capsys):
    out = tmp_path / "out"
    code = summarize(
        keyframe_model_dir,
        out,
        videos["audio"],
        videos["medium"],
        extra=["--highlights", "--batch-size", "2", "--json"],
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    printed = json.loads(captured.out)  # stdout holds only the JSON
    assert [r["video"]["path"] for r in printed] == [videos["audio"], videos["medium"]]

    for name, size, has_audio in (("audio", (160, 120), True), ("medium", (96, 72), False)):
        folder = out / name
        assert {p.name for p in folder.iterdir()} == {
            "summary.json",
            "summary.srt",
            "summary.vtt",
            "contact_sheet.png",
            "timeline.png",
            "highlights.mp4",
        }
        record = json.loads((folder / "summary.json").read_text())
        assert record["model"] == str(keyframe_model_dir)
        assert record["settings"]["task"] == "both" and record["settings"]["num_frames"] == 8
        summary = VideoSummary.from_dict(record)
        keyframes = [k.seconds for k in summary.keyframes]
        assert len(keyframes) == 3  # the keyframe-biased model, capped by --max-keyframes

        blocks = SRT_BLOCK.findall((folder / "summary.srt").read_text())
        assert [int(b[0]) for b in blocks] == list(range(1, len(summary.sentences) + 1))
        assert seconds(blocks[0][1]) == pytest.approx(keyframes[0], abs=1e-3)
        vtt = (folder / "summary.vtt").read_text()
        assert vtt.startswith("WEBVTT\n\n") and vtt.count(" --> ") == len(blocks)

        width, height = size
        assert Image.open(folder / "contact_sheet.png").size == (3 * width + 4 * GAP, height + LABEL_HEIGHT + 2 * GAP)
        thumb = round(width * 48 / height)
        assert Image.open(folder / "timeline.png").size == (8 * thumb + 9 * GAP, 48 + 3 * GAP)

        fps = record["video"]["fps"]
        # Windows [t - 1, t + 2) around each keyframe, merged, clipped to the video.
        start, end = max(0.0, keyframes[0] - 1.0), min(record["video"]["duration"], keyframes[-1] + 2.0)
        with av.open(str(folder / "highlights.mp4")) as reel:
            assert reel.duration / 1e6 == pytest.approx(end - start, abs=1.01 / fps)
            assert bool(reel.streams.audio) is has_audio


def test_failures_are_reported_and_others_still_run(keyframe_model_dir, videos, tmp_path, capsys):
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("this is not a video")
    missing = tmp_path / "missing.mp4"
    out = tmp_path / "out"
    code = summarize(keyframe_model_dir, out, missing, videos["short"], not_video)
    err = capsys.readouterr().err
    assert code == 1
    assert f"error: {missing}: file not found" in err
    assert f"error: {not_video}: not a readable video container" in err
    assert "2 of 3 videos failed" in err
    assert (out / "short" / "summary.json").exists()
    assert not (out / "missing").exists() and not (out / "notes").exists()


def test_existing_output_needs_overwrite(keyframe_model_dir, videos, tmp_path, capsys):
    out = tmp_path / "out"
    assert summarize(keyframe_model_dir, out, videos["short"]) == 0
    (out / "short" / "mine.txt").write_text("keep me")
    before = (out / "short" / "summary.json").stat().st_mtime_ns
    capsys.readouterr()

    assert summarize(keyframe_model_dir, out, videos["short"]) == 1
    assert "already exists and is not empty (pass --overwrite)" in capsys.readouterr().err
    assert (out / "short" / "summary.json").stat().st_mtime_ns == before

    assert summarize(keyframe_model_dir, out, videos["short"], extra=["--overwrite", "--task", "text"]) == 0
    assert json.loads((out / "short" / "summary.json").read_text())["task"] == "text"
    assert not (out / "short" / "contact_sheet.png").exists()  # no keyframes in a TEXT summary: no stale sheet
    assert (out / "short" / "mine.txt").read_text() == "keep me"


def test_same_stem_gets_numbered_folders(keyframe_model_dir, videos, tmp_path):
    copy = tmp_path / "other" / "short.mp4"
    copy.parent.mkdir()
    copy.write_bytes(open(videos["short"], "rb").read())
    assert summarize(keyframe_model_dir, tmp_path / "out", videos["short"], copy) == 0
    first = Path(videos["short"]).parent.name  # the two paths from their common folder, '/' spelled '__'
    assert (tmp_path / "out" / f"{first}__short" / "summary.json").exists()
    assert (tmp_path / "out" / f"{tmp_path.name}__other__short" / "summary.json").exists()


def test_unusable_output_dir_and_environment_errors(keyframe_model_dir, videos, tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert summarize(keyframe_model_dir, a_file / "out", videos["short"]) == 2
    assert "cannot use output directory" in capsys.readouterr().err

    assert summarize(tmp_path / "no-model", tmp_path / "o1", videos["short"]) == 2
    assert "cannot load model" in capsys.readouterr().err

    import torch

    if not torch.cuda.is_available():
        assert summarize(keyframe_model_dir, tmp_path / "o2", videos["short"], extra=["--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err
    if importlib.util.find_spec("bitsandbytes") is None:
        assert summarize(keyframe_model_dir, tmp_path / "o3", videos["short"], extra=["--load-in-4bit"]) == 2
        assert "--load-in-4bit needs the bitsandbytes package" in capsys.readouterr().err


def test_fps_and_warnings_reach_summary_json(keyframe_model_dir, videos, tmp_path):
    from v2xum.testing import truncate_file, write_numbered_video

    full = write_numbered_video(tmp_path / "full.mkv", 60, fps=10, gop=10, noise=True)
    cut = truncate_file(full, tmp_path / "cut.mkv", 0.5)
    out = tmp_path / "out"
    assert summarize(keyframe_model_dir, out, cut, videos["long"], extra=["--fps", "1"]) == 0
    record = json.loads((out / "cut" / "summary.json").read_text())
    assert any("could be decoded" in w for w in record["warnings"]), record["warnings"]
    long = json.loads((out / "long" / "summary.json").read_text())
    assert long["settings"]["fps"] == 1.0 and long["video"]["num_sampled_frames"] == 8  # 10 s at 1 fps, capped at 8


def test_highlights_need_keyframes(keyframe_model_dir, videos, tmp_path, capsys):
    assert (
        summarize(keyframe_model_dir, tmp_path / "o", videos["short"], extra=["--task", "text", "--highlights"]) == 2
    )
    assert "--highlights needs keyframes" in capsys.readouterr().err


def test_checkpoint_problems_are_one_line_errors(keyframe_model_dir, videos, tmp_path, capsys):
    import shutil

    for missing in ("./no-such-model", str(tmp_path / "a" / "b" / "c")):
        assert summarize(missing, tmp_path / "o", videos["short"]) == 2
        assert "file not found (and not a Hub id)" in capsys.readouterr().err
    broken = tmp_path / "broken"
    shutil.copytree(keyframe_model_dir, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a download cut short
    assert summarize(broken, tmp_path / "o2", videos["short"]) == 2
    assert f"cannot load model '{broken}'" in capsys.readouterr().err
    mismatched = tmp_path / "mismatched"
    shutil.copytree(keyframe_model_dir, mismatched)
    config = json.loads((mismatched / "processor_config.json").read_text())
    config["temporal_prompt_style"] = "text"
    (mismatched / "processor_config.json").write_text(json.dumps(config))
    assert summarize(mismatched, tmp_path / "o3", videos["short"]) == 2
    assert "does not match the model (special, 100)" in capsys.readouterr().err
