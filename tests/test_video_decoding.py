import av
import numpy as np
import pytest

from processing import VideoDecodingError, decode_video, uniform_frame_indices
from v2xum.testing import read_frame_number, write_numbered_video


def numbers(video):
    return [read_frame_number(frame) for frame in video.frames]


def test_exact_frames_and_timestamps(videos):
    video = decode_video(videos["long"], num_frames=100)
    expected = np.linspace(0, 299, 100).astype(int).tolist()
    assert video.frame_indices == expected
    assert numbers(video) == expected  # the pixels are the frames we claim
    assert video.timestamps == pytest.approx([i / 30 for i in expected], abs=1e-6)
    assert (video.total_num_frames, video.width, video.height) == (300, 160, 120)
    assert video.fps == pytest.approx(30) and video.duration == pytest.approx(10.0)
    assert video.frames.shape == (100, 120, 160, 3) and video.frames.dtype == np.uint8


@pytest.mark.parametrize("fps, size, codec", [(24, (96, 64), "libx264"), (60, (127, 93), "mpeg4")])
def test_other_rates_and_odd_sizes(tmp_path, fps, size, codec):
    # H.264 in 4:2:0 needs even sizes; MPEG-4 part 2 takes odd ones
    path = write_numbered_video(tmp_path / "v.mp4", 90, fps=fps, width=size[0], height=size[1], gop=12, codec=codec)
    video = decode_video(path, num_frames=10)
    assert numbers(video) == video.frame_indices == np.linspace(0, 89, 10).astype(int).tolist()
    assert video.frames.shape[1:3] == (size[1], size[0])


def test_fewer_frames_than_requested_gives_all_once(videos):
    video = decode_video(videos["short"], num_frames=100)
    assert video.frame_indices == numbers(video) == list(range(7))
    assert len(set(video.timestamps)) == 7


def test_variable_frame_rate_reports_real_times(tmp_path):
    pts = [0, 0.1, 0.15, 0.5, 0.55, 1.2, 1.3, 2.0]
    path = write_numbered_video(tmp_path / "vfr.mp4", 8, fps=10, pts_seconds=pts)
    video = decode_video(path, num_frames=8)
    assert numbers(video) == list(range(8))
    assert video.timestamps == pytest.approx(pts, abs=1e-3)


def test_rotation_metadata_is_applied(tmp_path):
    path = write_numbered_video(tmp_path / "rot.mp4", 6, width=160, height=96, rotation=90)
    video = decode_video(path, num_frames=3)
    assert video.rotation == 90 and video.frames.shape[1:3] == (160, 96)
    # the red marker, stored top-left, is bottom-left after a 90 degree counter-clockwise turn
    assert video.frames[0, -4:, :4, 0].mean() > 200 and video.frames[0, :4, :4, 0].mean() < 60


@pytest.mark.parametrize("pix_fmt", ["gray", "yuv444p"])
def test_other_pixel_formats(tmp_path, pix_fmt):
    codec = "ffv1" if pix_fmt == "gray" else "libx264"
    path = write_numbered_video(tmp_path / "f.mkv", 12, codec=codec, pix_fmt=pix_fmt, gop=5)
    video = decode_video(path, num_frames=4)
    assert video.frames.shape[-1] == 3
    assert video.frame_indices == np.linspace(0, 11, 4).astype(int).tolist() == [0, 3, 7, 11]


def test_keyframe_mode_returns_true_keyframes(videos):
    exact = decode_video(videos["long"], num_frames=100)
    fast = decode_video(videos["long"], num_frames=100, mode="keyframes")
    assert 1 < len(fast.frame_indices) <= 100
    assert numbers(fast) == fast.frame_indices == sorted(set(fast.frame_indices))
    assert fast.timestamps == pytest.approx([i / 30 for i in fast.frame_indices], abs=1e-6)
    with av.open(videos["long"]) as container:
        packets = [p for p in container.demux(video=0) if p.pts is not None]
    all_pts = sorted(p.pts for p in packets)
    keyframe_pts = {p.pts for p in packets if p.is_keyframe}
    keyframe_indices = {i for i, pts in enumerate(all_pts) if pts in keyframe_pts}
    assert set(fast.frame_indices) <= keyframe_indices  # every returned frame really is a keyframe
    assert exact.total_num_frames == fast.total_num_frames == len(all_pts)


def test_uniform_indices():
    assert uniform_frame_indices(0, 100) == []
    assert uniform_frame_indices(5, 100) == [0, 1, 2, 3, 4]
    assert uniform_frame_indices(1000, 3) == [0, 499, 999]  # linspace 0, 499.5, 999 truncated, as released
    with pytest.raises(ValueError):
        uniform_frame_indices(10, 0)


def test_bad_inputs_raise_one_error_type(tmp_path, videos):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(open(videos["long"], "rb").read()[:3000])
    audio_only = tmp_path / "audio.m4a"
    with av.open(str(audio_only), "w") as container:
        stream = container.add_stream("aac", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    zero_frames = tmp_path / "zero_frames.mp4"  # a video stream without a single frame, beside audio
    with av.open(str(zero_frames), "w") as container:
        video_stream = container.add_stream("libx264", rate=30)
        video_stream.width, video_stream.height = 64, 64
        stream = container.add_stream("aac", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")

    cases = {
        tmp_path / "missing.mp4": "file not found",
        tmp_path: "is a directory",
        text: "not a readable video container",
        truncated: "corrupt|truncated|not a readable",
        audio_only: "no video stream",
        zero_frames: "has no frames|no video stream",
        empty: "not a readable video container",
    }
    for path, reason in cases.items():
        with pytest.raises(VideoDecodingError, match=reason) as info:
            decode_video(path, num_frames=8)
        assert info.value.path == str(path)


def test_thread_counts_never_exceed_the_cores():
    from processing.video_decoding import cpu_cores, decode_thread_count

    cores = cpu_cores()
    assert decode_thread_count() == cores and decode_thread_count(10_000) == cores
    assert decode_thread_count(1) == 1 and decode_thread_count(workers=cores * 4) == 1
    assert decode_thread_count(workers=2) == max(1, cores // 2)
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="decode_threads must be a positive integer"):
            decode_thread_count(bad)


def test_thread_count_follows_the_affinity(videos):
    """A process pinned to one core decodes with one thread, whatever it asks for."""
    import subprocess
    import sys

    path = str(videos["long"])
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
        "from processing.video_decoding import VideoReader;"
        f"print(VideoReader({path!r}, decode_threads=8).threads, VideoReader({path!r}).threads)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "1"]


def test_threading_is_chosen_by_the_work(tmp_path, monkeypatch):
    """Frame threading for reads that decode long runs in order, slice threading where every frame needs a seek;
    both give the same frames."""
    import processing.video_decoding as decoding

    seen = []
    open_stream = decoding._video_stream

    def recording(container, source, threads=decoding._Threads()):
        stream = open_stream(container, source, threads)
        seen.append((stream.thread_count, stream.thread_type.name))
        return stream

    monkeypatch.setattr(decoding, "_video_stream", recording)
    long_gop = write_numbered_video(tmp_path / "long.mp4", 120, fps=30, gop=120)
    intra = write_numbered_video(tmp_path / "intra.mp4", 120, fps=30, gop=1)
    runs = decode_video(long_gop, num_frames=10, decode_threads=2)
    assert seen[-1] == (2, "AUTO") and numbers(runs) == runs.frame_indices
    seeks = decode_video(intra, num_frames=10, decode_threads=2)
    assert seen[-1] == (2, "SLICE") and numbers(seeks) == seeks.frame_indices
    decode_video(long_gop, num_frames=10, decode_threads=1)
    assert seen[-1] == (1, "SLICE")


ONE_ARRAY_SCRIPT = """
import resource, sys
from processing import decode_video
decode_video(sys.argv[1], num_frames=2)  # warm up: codec tables, first allocations
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
video = decode_video(sys.argv[1], num_frames=60)
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
print(grown / video.frames.nbytes, video.frames.shape, video.frames.flags.c_contiguous)
"""


def test_frames_are_converted_into_one_array(tmp_path):
    """The decoded frames are allocated once, at their final shape: the peak grows by the output, not by the output
    plus the frames it was stacked from (2x). Measured in a fresh process (peak RSS)."""
    import subprocess
    import sys

    path = write_numbered_video(tmp_path / "v.mp4", 60, fps=30, width=1280, height=720, gop=30)
    out = subprocess.run(
        [sys.executable, "-c", ONE_ARRAY_SCRIPT, str(path)], capture_output=True, text=True, check=True
    )
    ratio, shape = out.stdout.split(" ", 1)
    assert shape.strip() == "(60, 720, 1280, 3) True"
    assert float(ratio) < 1.25, ratio  # stacked from a list of frames: 1.5
