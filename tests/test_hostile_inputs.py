"""What a hostile user or a careless operator can do to `v2xum summarize`, `push` and training data, one class of
input per test: outputs never leave their folder, claims recover from dead runs, work is bounded, and every failure
is one message naming what and why. Each test also checks that nothing beside the output folder changed (a sentinel
file). The app's cases are in tests/test_app.py."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from v2xum.cli import main as v2xum
from v2xum.collection import collect_jobs
from v2xum.outputs import HOLDER, LEASE_TERM, STATE_DIR, OutputFolder, output_names, read_index, read_lease
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
        "4",
        "--max-keyframes",
        "1",
        *extra,
    ]


@pytest.fixture
def clips(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    return [write_numbered_video(folder / f"c{i}.mp4", 10 + i, fps=10, gop=5) for i in range(6)]


@pytest.fixture
def sentinel(tmp_path):
    """A file beside the output folder: it must never change."""
    path = tmp_path / "sentinel.txt"
    path.write_text("untouched")
    yield path
    assert path.read_text() == "untouched" and sorted(p.name for p in path.parent.glob("sentinel*")) == [path.name]


# -- output paths never leave their folder ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, name",
    [
        ("http://127.0.0.1:9/a/..", "video"),
        ("http://127.0.0.1:9/.", "video"),
        ("https://127.0.0.1:9/clip.mp4?X-Amz-Signature=secret&X-Amz-Expires=60", "clip"),
        ("http://127.0.0.1:9/CON.mp4", "CON_"),
        ("http://127.0.0.1:9/a%2F..%2Fb.mp4", "a%2F..%2Fb"),
    ],
)
def test_names_from_urls_stay_inside_the_output_folder(url, name):
    (job,) = collect_jobs([url])
    assert job.name == name and "secret" not in job.name and os.sep not in job.name
    assert Path("/out", job.name).resolve().parent == Path("/out")


def test_one_video_spelled_twice_is_one_job(clips, tmp_path):
    spelled = str(Path(clips[0]).parent / ".." / "clips" / Path(clips[0]).name)
    linked = tmp_path / "link.mp4"
    linked.symlink_to(clips[0])
    signed = ["https://h.example/v.mp4?sig=1", "https://h.example/v.mp4?sig=2"]
    assert len(collect_jobs([clips[0], spelled, str(linked), *signed])) == 2


@pytest.mark.parametrize("ids", [("a", "a/"), ("b/c", "b//c"), ("x", "./x")])
def test_manifest_ids_are_compared_after_normalizing(clips, tmp_path, ids, capsys):
    manifest = tmp_path / "list.jsonl"
    manifest.write_text("\n".join(json.dumps({"video": clips[n], "id": i}) for n, i in enumerate(ids)))
    assert v2xum(["summarize", "--manifest", str(manifest), "--model", "x", "--out", str(tmp_path / "o")]) == 2
    assert "two inputs would write to the same output folder" in capsys.readouterr().err


@pytest.mark.parametrize("bad_id", ["..", "../escape", "/abs/path", "a/../../b"])
def test_manifest_ids_that_climb_out_are_refused(keyframe_model_dir, clips, tmp_path, bad_id, sentinel, capsys):
    manifest = tmp_path / "list.jsonl"
    manifest.write_text(json.dumps({"video": clips[0], "id": bad_id}) + "\n")
    out = tmp_path / "out"
    assert v2xum(run_args(keyframe_model_dir, out, extra=["--manifest", str(manifest)])) == 1
    assert "'id' must be a relative name inside the output folder" in capsys.readouterr().err
    assert not (tmp_path / "escape").exists()
    assert [p.name for p in out.iterdir() if p.name not in (STATE_DIR, "index.jsonl")] == []


def test_a_linked_output_folder_is_never_followed(keyframe_model_dir, clips, tmp_path, sentinel, capsys):
    out, elsewhere = tmp_path / "out", tmp_path / "users_files"
    elsewhere.mkdir()
    (elsewhere / "summary.json").write_text("the user's own file")
    out.mkdir()
    (out / "c0").symlink_to(elsewhere, target_is_directory=True)
    for extra in ([], ["--overwrite"], ["--resume"]):
        assert v2xum(run_args(keyframe_model_dir, out, clips[0], extra=extra)) == 1
        assert "is a symbolic link; refusing to write through it" in capsys.readouterr().err
    assert [p.name for p in elsewhere.iterdir()] == ["summary.json"]
    assert (elsewhere / "summary.json").read_text() == "the user's own file"


def test_push_refuses_bad_repo_ids_and_skips_links(tmp_path, tiny_dir, capsys):
    staging = tmp_path / "staging"
    for repo_id in ("..", "org/..", "a/b/c", "bad name"):
        assert v2xum(["push", "model", str(tiny_dir), repo_id, "--dry-run", "--staging-dir", str(staging)]) == 2
        assert "error:" in capsys.readouterr().err
    assert not staging.exists() and [p.name for p in tmp_path.iterdir()] == []
    folder = tmp_path / "ckpt"
    subprocess.run(["cp", "-r", str(tiny_dir), str(folder)], check=True)
    (tmp_path / "secret.txt").write_text("not for the Hub")
    (folder / "notes.txt").symlink_to(tmp_path / "secret.txt")
    assert v2xum(["push", "model", str(folder), "org/name", "--dry-run", "--staging-dir", str(staging)]) == 0
    captured = capsys.readouterr()
    assert f"{folder / 'notes.txt'} is a symbolic link; not uploaded" in captured.err
    assert "notes.txt" not in captured.out and not (staging / "org__name" / "notes.txt").exists()


# -- claims that recover ---------------------------------------------------------------------------------------------


def _lease(out: Path, name: str, **fields) -> Path:
    folder = OutputFolder(out, name)
    folder.claim_path.parent.mkdir(parents=True, exist_ok=True)
    lease = {
        "holder": "someoneelse",
        "host": "another-host",
        "pid": 1,
        "process_start": 0.0,
        "since": time.time(),
        "term": LEASE_TERM,
    } | fields
    folder.claim_path.write_text(json.dumps(lease) if fields.get("empty") is None else "")
    return folder.claim_path


@pytest.mark.parametrize(
    "lease, taken_over",
    [
        ({}, False),  # another host, renewed just now: its run is alive
        ({"age": 3 * LEASE_TERM}, True),  # another host, not renewed for three terms: gone
        ({"host": socket.gethostname(), "pid": os.getpid(), "process_start": 12.0}, True),  # a reused pid
        ({"host": socket.gethostname(), "pid": 2**22 + 7}, True),  # a dead process
        ({"empty": True}, True),  # an empty claim holds nothing
    ],
)
def test_claims_are_leases(keyframe_model_dir, clips, tmp_path, lease, taken_over, capsys):
    out = tmp_path / "out"
    age = lease.pop("age", 0)
    claim = _lease(out, "c0", **lease)
    os.utime(claim, (time.time() - age, time.time() - age))
    assert v2xum(run_args(keyframe_model_dir, out, clips[0])) == 0
    assert (out / "c0" / "summary.json").is_file() == taken_over
    if not taken_over:
        assert "1 of 1 videos skipped" in capsys.readouterr().err
        assert v2xum(run_args(keyframe_model_dir, out, clips[0], extra=["--overwrite"])) == 0  # takes any claim
        assert "warning: taking over c0 from the run of another-host" in capsys.readouterr().err
        assert (out / "c0" / "summary.json").is_file()
    assert not claim.exists()  # released when done


def test_concurrent_runs_split_the_work_without_doing_a_video_twice(keyframe_model_dir, clips, tmp_path):
    out = tmp_path / "out"
    args = run_args(keyframe_model_dir, out, *clips, extra=["--prefetch", "1"])
    command = [sys.executable, "-m", "v2xum.cli", *args]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    claims, most_held = out / STATE_DIR / "claims", 0
    while any(run.poll() is None for run in runs):
        leases = [read_lease(path) for path in claims.glob("*.claim")] if claims.is_dir() else []
        held = Counter(lease["pid"] for lease in leases if lease)
        most_held = max(most_held, *held.values(), 0)
        time.sleep(0.005)
    results = [run.communicate(timeout=300) for run in runs]
    assert all(run.returncode == 0 for run in runs), [r[1][-2000:] for r in results]
    lines = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert sorted(line["output"] for line in lines) == sorted(output_names(clips))  # each video exactly once
    assert {line["pid"] for line in lines} <= {run.pid for run in runs}
    # Claimed when work starts, not at admission: a run holds at most the video it generates, one decoded ahead and
    # one being decoded (a run that claimed all 6 at admission would leave the other nothing to do).
    assert 1 <= most_held <= 3, most_held


def test_a_killed_run_leaves_nothing_behind_the_next_one(keyframe_model_dir, clips, tmp_path):
    out = tmp_path / "out"
    dead = out / STATE_DIR / "work" / "0123456789abcdef-deadholder000000"
    (dead / "half").mkdir(parents=True)
    (dead / "half" / "summary.srt").write_text("half written")
    _lease(out, "c1", host=socket.gethostname(), pid=2**22 + 9, holder="deadholder000000")
    command = [sys.executable, "-m", "v2xum.cli", *run_args(keyframe_model_dir, out, *clips)]
    killed = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "index.jsonl").exists() and time.time() < deadline:
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert v2xum(run_args(keyframe_model_dir, out, *clips, extra=["--resume"])) == 0
    assert list((out / STATE_DIR / "work").iterdir()) == [] and list((out / STATE_DIR / "claims").iterdir()) == []
    assert sorted(p.parent.name for p in out.glob("*/summary.json")) == sorted(output_names(clips))


# -- resume, index and manifests -------------------------------------------------------------------------------------


def test_resume_never_replaces_another_settings_output(keyframe_model_dir, clips, tmp_path, capsys):
    out = tmp_path / "out"
    assert v2xum(run_args(keyframe_model_dir, out, clips[0])) == 0
    before = (out / "c0" / "summary.json").read_bytes()
    assert v2xum(run_args(keyframe_model_dir, out, clips[0], extra=["--resume", "--task", "text"])) == 1
    assert "holds a complete summary made with other settings (pass --overwrite)" in capsys.readouterr().err
    assert (out / "c0" / "summary.json").read_bytes() == before
    assert v2xum(run_args(keyframe_model_dir, out, clips[0], extra=["--overwrite", "--task", "text"])) == 0
    assert json.loads((out / "c0" / "summary.json").read_text())["task"] == "text"


def test_foreign_index_lines_are_skipped(keyframe_model_dir, clips, tmp_path, capsys):
    out = tmp_path / "out"
    assert v2xum(run_args(keyframe_model_dir, out, clips[0])) == 0
    with open(out / "index.jsonl", "a") as index:
        index.write('{"note": "added by another tool"}\n[1, 2]\n')
    assert v2xum(run_args(keyframe_model_dir, out, *clips[:2], extra=["--resume"])) == 0
    err = capsys.readouterr().err
    assert f"{out / 'index.jsonl'} line 2 is not a v2xum record; skipped" in err
    assert set(read_index(out)) == {"c0", "c1"}


def test_manifests_empty_bom_and_rows_sharing_a_video(keyframe_model_dir, clips, tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("video,id\n")
    assert v2xum(run_args(keyframe_model_dir, tmp_path / "o1", extra=["--manifest", str(empty)])) == 2
    assert "holds no rows" in capsys.readouterr().err
    excel = tmp_path / "excel.csv"  # what a spreadsheet saves: a byte-order mark before the first column's name
    excel.write_bytes("\ufeffvideo,id\n".encode() + f"{clips[0]},first\n{clips[1]},second\n".encode())
    assert v2xum(run_args(keyframe_model_dir, tmp_path / "o2", extra=["--manifest", str(excel)])) == 0
    assert sorted(p.name for p in (tmp_path / "o2").iterdir() if p.is_dir() and p.name != STATE_DIR) == [
        "first",
        "second",
    ]
    missing = str(tmp_path / "missing.mp4")
    shared = tmp_path / "shared.jsonl"  # two rows, one (missing) video: two failures, each naming its row
    shared.write_text("\n".join(json.dumps({"video": missing, "id": i}) for i in ("m1", "m2")))
    assert v2xum(run_args(keyframe_model_dir, tmp_path / "o3", extra=["--manifest", str(shared)])) == 1
    err = capsys.readouterr().err
    assert f"{shared} row 1 ({missing}): file not found" in err and f"{shared} row 2 ({missing})" in err
    assert "2 of 2 videos failed" in err


# -- bounded work ----------------------------------------------------------------------------------------------------


def _peak_rss_mb(command: list[str]) -> tuple[int, float, str]:
    script = (
        "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024); "
        "print(r.stderr[-3000:])"
    )
    result = subprocess.run([sys.executable, "-c", script, *command], capture_output=True, text=True, timeout=300)
    code, peak = result.stdout.splitlines()[0].split()
    return int(code), float(peak), result.stdout


@pytest.mark.parametrize(
    "extra, code, message",
    [
        (["--window-seconds", "1e-9"], 1, "windows of 1e-09 s asked for; the limit is at most 100,000"),
        (["--fps", "1e9", "--num-frames", "4"], 0, ""),  # sampling is lazy: a huge rate costs nothing
        (["--window-seconds", "0.2", "--max-windows", "3"], 1, "windows of 0.2 s asked for; the limit is at most 3"),
        (["--max-minutes", "0.001"], 1, "minutes of video asked for; the limit is at most 0.001"),
    ],
)
def test_requests_are_bounded_before_any_work(keyframe_model_dir, clips, tmp_path, extra, code, message):
    command = [
        sys.executable,
        "-m",
        "v2xum.cli",
        *run_args(keyframe_model_dir, tmp_path / "out", clips[0], extra=extra),
    ]
    start = time.perf_counter()
    returned, peak_mb, output = _peak_rss_mb(command)
    assert returned == code and message in output, output
    assert time.perf_counter() - start < 120 and peak_mb < 1500, peak_mb


def test_a_server_that_never_answers_times_out_with_a_message(tmp_path, monkeypatch):
    from processing import VideoDecodingError, decode_video

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held = []
    threading.Thread(target=lambda: held.append(server.accept()), daemon=True).start()  # accepts, never answers
    monkeypatch.setenv("V2XUM_URL_TIMEOUT", "2")
    start = time.perf_counter()
    with pytest.raises(VideoDecodingError, match="timed out after 2 s"):
        decode_video(f"http://127.0.0.1:{server.getsockname()[1]}/clip.mp4", num_frames=4)
    assert time.perf_counter() - start < 15
    with pytest.raises(VideoDecodingError, match="only http:// and https:// URLs are read"):
        decode_video("file:///etc/passwd", num_frames=4)
    server.close()


# -- inputs checked against what they are ----------------------------------------------------------------------------


def test_training_rows_are_checked_against_the_real_length(tmp_path):
    """A file cut short keeps the header of the whole: 30 s announced, 3 s there. Keyframes are checked against the
    frames the file has."""
    import av

    from processing.video_decoding import announced_duration
    from v2xum.training_data import load_training_examples
    from v2xum.validation import RowError

    whole = tmp_path / "whole.mp4"
    with av.open(str(whole), "w", container_options={"movflags": "faststart"}) as container:  # the header first
        stream = container.add_stream("libx264", rate=10)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        import numpy as np

        noise = np.random.default_rng(0)
        for _ in range(300):  # noise: the frames' data, not the header, is most of the file
            frame = av.VideoFrame.from_ndarray(noise.integers(0, 256, (64, 64, 3), dtype=np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.12)])
    assert announced_duration(str(cut)) == pytest.approx(30.0, abs=0.2)
    rows = tmp_path / "train.jsonl"
    rows.write_text(json.dumps({"video": "cut.mp4", "task": "video", "sentences": [{"text": "", "seconds": [20.0]}]}))
    with pytest.raises(RowError, match=r"line 1: 'sentences\[0\].seconds\[0\]' = 20.0: keyframe past the end"):
        load_training_examples(rows)


@pytest.mark.parametrize(
    "content, words",
    [
        (b'{"video": "a.mp4"}\n\xff\xfe\x00 not text\n', "line 2: not UTF-8 text"),
        (b'{"video": "a.mp4", "n": ' + b"9" * 5000 + b"}\n", "line 1: not a usable JSON row"),
    ],
)
def test_unreadable_rows_name_their_line(tmp_path, content, words):
    from v2xum.training_data import load_training_examples

    path = tmp_path / "train.jsonl"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=words):
        load_training_examples(path)


# -- every failure one line ------------------------------------------------------------------------------------------


def test_refused_pickles_and_broken_checkpoints_are_one_line(tmp_path, tiny_dir, capsys):
    import pickle
    import zipfile

    from modeling_v2xum.convert_v2xum_original import main as convert

    evil = tmp_path / "mm_projector.bin"  # a torch.save archive whose pickle names os.system
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("mm_projector/data.pkl", pickle.dumps(os.system))
        archive.writestr("mm_projector/version", "3\n")
    assert (
        convert(
            [
                "--base",
                str(tiny_dir),
                "--projector",
                str(evil),
                "--lora",
                str(tmp_path),
                "--clip",
                str(tiny_dir),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 2
    )
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": str(tiny_dir), "peft_type": "LORA", "r": 2, "target_modules": ["x"]})
    )
    (adapter / "adapter_model.bin").write_bytes(evil.read_bytes())
    assert v2xum(["merge-adapter", str(adapter), str(tmp_path / "merged")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(tiny_dir), str(broken)], check=True)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    assert v2xum(["summarize", str(evil), "--model", str(broken), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "cannot load model" in err and "Traceback" not in err
    assert HOLDER  # (one holder id for this process's claims)
