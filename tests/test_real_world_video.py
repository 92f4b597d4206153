"""Files as they come from cameras, broadcasts, downloads and old tools: every class decodes exactly.

Each class is generated in several variants with numbered frames, and checked against a plain sequential PyAV decode
(the reference): the frames at the reported indices are the reference's frames, pixel for pixel, and their numbers
read back from the pixels are the reported indices.
"""

import functools
import http.server
import threading

import av
import numpy as np
import pytest

from processing import VideoDecodingError, decode_video
from processing.timeline import sample_frame_indices
from processing.video_decoding import VideoReader, monotonic_timeline, output_size
from v2xum.testing import (
    concatenate_files,
    read_frame_number,
    reference_frames,
    truncate_file,
    write_numbered_video,
)


@pytest.fixture(autouse=True, params=[False, True], ids=["slice-threads", "frame-threads"])
def forced_threading(request, monkeypatch):
    """Every test here twice: frame threading forced off, then on (two threads: its output comes late, and frames
    must still be identified by pts or output order, never by when they come out)."""
    init = VideoReader.__init__

    def forced(self, path, decode_threads=None, frame_threading=None):
        init(self, path, decode_threads=2, frame_threading=request.param)

    monkeypatch.setattr(VideoReader, "__init__", forced)
    return request.param


def assert_exact(video, path, damaged_last=False):
    """Frames equal the reference decode at the reported indices and their pixels carry those indices (except a
    `damaged_last` frame of a cut file, whose concealed pixels the reference shows too)."""
    reference = reference_frames(path)
    assert video.total_num_frames == len(reference)
    for frame, index in zip(video.frames, video.frame_indices):
        if frame.shape == reference[index][1].shape:
            assert np.array_equal(frame, reference[index][1]), index
    numbers = [read_frame_number(f) for f in video.frames]
    if damaged_last and numbers[-1] != video.frame_indices[-1]:
        assert any("decoded with errors" in w for w in video.warnings), video.warnings
        numbers, video = numbers[:-1], type(video)(**{**vars(video), "frame_indices": video.frame_indices[:-1]})
    assert numbers == video.frame_indices
    assert all(b > a for a, b in zip(video.timestamps, video.timestamps[1:]))


def pts_seconds(path, indices):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = sorted(p.pts for p in container.demux(stream) if p.size)
        return [round((pts[i] - pts[0]) * float(stream.time_base), 6) for i in indices]


@pytest.mark.parametrize("bframes,gop,size", [(3, 30, (160, 120)), (2, 12, (96, 72)), (3, 250, (128, 96))])
def test_b_frames_in_mpeg_ts(tmp_path, bframes, gop, size):
    path = write_numbered_video(
        tmp_path / "b.ts",
        90,
        fps=30,
        width=size[0],
        height=size[1],
        gop=gop,
        bframes=bframes,
        container_format="mpegts",
    )
    video = decode_video(path, num_frames=20)
    assert len(video.frames) == 20 and video.warnings == []
    assert_exact(video, path)
    assert video.timestamps == pts_seconds(path, video.frame_indices)
    fast = decode_video(path, num_frames=20, mode="keyframes")
    assert_exact(fast, path)
    with av.open(path) as container:
        keyframes = {i for i, frame in enumerate(container.decode(video=0)) if frame.key_frame}
    assert fast.frame_indices[0] == 0 and set(fast.frame_indices) <= keyframes


@pytest.mark.parametrize("container_format,suffix", [("avi", "avi"), ("matroska", "mkv")])
@pytest.mark.parametrize("bframes", [1, 2])
def test_reordered_b_frames(tmp_path, container_format, suffix, bframes):
    path = write_numbered_video(
        tmp_path / f"b.{suffix}", 75, fps=25, codec="mpeg4", gop=25, bframes=bframes, container_format=container_format
    )
    for mode in ("exact", "keyframes"):
        assert_exact(decode_video(path, num_frames=16, mode=mode), path)


def remux_with_pts_from_dts(source, path):
    """Timestamps attached to the wrong frames, as packed-B-frame (DivX/Xvid) AVIs give them: each packet's pts is
    its decode time, so decoded frames come out with pts out of order."""
    with av.open(str(source)) as src, av.open(str(path), "w", format="matroska") as out:
        stream = src.streams.video[0]
        target = out.add_stream_from_template(stream)
        for packet in src.demux(stream):
            if packet.dts is not None:
                packet.pts, packet.stream = packet.dts + 1, target
                out.mux(packet)
    return path


@pytest.mark.parametrize("bframes", [1, 2])
def test_out_of_order_pts_are_numbered_in_output_order(tmp_path, bframes):
    source = write_numbered_video(
        tmp_path / "b.avi", 60, fps=25, codec="mpeg4", gop=20, bframes=bframes, container_format="avi"
    )
    path = remux_with_pts_from_dts(source, tmp_path / "packed.mkv")
    assert [p for p, _ in reference_frames(path)] != sorted(p for p, _ in reference_frames(path))  # really disordered
    for mode in ("exact", "keyframes"):
        video = decode_video(path, num_frames=12, mode=mode)
        assert video.frame_indices == np.linspace(0, 59, 12).astype(int).tolist()
        assert_exact(video, path)
        assert any("repaired timeline" in w for w in video.warnings)
        assert video.duration == pytest.approx(60 / 25, abs=0.05)


@pytest.mark.parametrize("parts", [(30, 30), (20, 45, 25)])
def test_timestamps_that_restart(tmp_path, parts):
    files, first = [], 0
    for n, count in enumerate(parts):
        files.append(
            write_numbered_video(
                tmp_path / f"part{n}.ts",
                count,
                fps=15,
                gop=10,
                bframes=2 * (n % 2),
                container_format="mpegts",
                first_number=first,
            )
        )
        first += count
    path = concatenate_files(files, tmp_path / "joined.ts")
    video = decode_video(path, num_frames=1000)  # every frame
    assert video.total_num_frames == sum(parts) == len(video.frames)
    assert [read_frame_number(f) for f in video.frames] == list(range(sum(parts)))
    assert all(b > a for a, b in zip(video.timestamps, video.timestamps[1:]))
    assert video.duration == pytest.approx(sum(parts) / 15, abs=0.2)
    assert any("restarted" in w for w in video.warnings)


@pytest.mark.parametrize("sizes", [((160, 120), (96, 72)), ((96, 72), (192, 144), (128, 128))])
def test_resolution_change_mid_stream(tmp_path, sizes):
    files, first = [], 0
    for n, (width, height) in enumerate(sizes):
        files.append(
            write_numbered_video(
                tmp_path / f"p{n}.ts",
                20,
                fps=10,
                width=width,
                height=height,
                gop=10,
                container_format="mpegts",
                first_number=first,
            )
        )
        first += 20
    path = concatenate_files(files, tmp_path / "sizes.ts")
    video = decode_video(path, num_frames=15)
    assert video.frames.shape[1:] == (sizes[0][1], sizes[0][0], 3)  # every frame at the first frame's size
    assert_exact(video, path)


@pytest.mark.parametrize("suffix", ["mkv", "ts", "webm"])
@pytest.mark.parametrize("fraction", [0.3, 0.55, 0.85])
def test_truncated_files_decode_what_is_there(tmp_path, suffix, fraction):
    codec = "libvpx-vp9" if suffix == "webm" else "libx264"
    full = write_numbered_video(tmp_path / f"full.{suffix}", 90, fps=30, gop=15, codec=codec, noise=True)
    path = truncate_file(full, tmp_path / f"cut.{suffix}", fraction)
    video = decode_video(path, num_frames=30)
    assert 0 < video.total_num_frames < 90
    assert_exact(video, path, damaged_last=True)
    if suffix == "mkv":  # Matroska announces its duration up front: the cut is noticed and said
        assert any("could be decoded" in w for w in video.warnings), video.warnings


@pytest.mark.parametrize("frames", [1, 2])
@pytest.mark.parametrize("suffix", ["mp4", "mkv"])
def test_one_and_two_frame_clips_have_a_duration(tmp_path, frames, suffix):
    path = write_numbered_video(tmp_path / f"c.{suffix}", frames, fps=25)
    video = decode_video(path, num_frames=8)
    assert video.frame_indices == list(range(frames)) and video.duration > 0 and video.fps > 0
    assert video.duration == pytest.approx(frames / 25, abs=0.05)
    assert_exact(video, path)


def test_a_still_image_is_a_one_frame_video(tmp_path):
    from PIL import Image

    from v2xum.testing import numbered_frame

    Image.fromarray(numbered_frame(5, 64, 48)).save(tmp_path / "still.png")
    video = decode_video(tmp_path / "still.png", num_frames=8)
    assert len(video.frames) == 1 and read_frame_number(video.frames[0]) == 5 and video.duration > 0


def test_4k_frames_come_at_the_size_asked_for(tmp_path):
    path = write_numbered_video(tmp_path / "4k.mp4", 6, fps=30, width=3840, height=2160, gop=3)
    video = decode_video(path, num_frames=3, shortest_edge=224)
    assert video.frames.shape == (3, 224, 398, 3) and (video.width, video.height) == (398, 224)
    assert [read_frame_number(f) for f in video.frames] == video.frame_indices == [0, 2, 5]
    assert output_size(3840, 2160, 224) == (398, 224) and output_size(100, 80, 224) == (100, 80)
    assert output_size(1080, 1920, 224) == (224, 398)


def test_fps_sampling_follows_real_time(tmp_path):
    path = write_numbered_video(tmp_path / "cfr.mp4", 50, fps=10)
    assert decode_video(path, fps=1).frame_indices == [0, 10, 20, 30, 40]
    assert decode_video(path, fps=2, num_frames=4).frame_indices == [0, 15, 30, 45]  # 10 capped to 4, uniformly
    # variable frame rate: 10 fps for 2 s, then 2 fps for 3 s; one frame a second is the one showing at k seconds
    times = [i / 10 for i in range(20)] + [2 + i / 2 for i in range(6)]
    vfr = write_numbered_video(tmp_path / "vfr.mkv", len(times), pts_seconds=times)
    video = decode_video(vfr, fps=1)
    assert video.timestamps == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert sample_frame_indices([0.0, 0.5, 1.0], fps=1) == [0, 2]


def test_released_uniform_rule_truncates(tmp_path):
    path = write_numbered_video(tmp_path / "v.mp4", 300, fps=30)
    video = decode_video(path, num_frames=100)
    assert video.frame_indices == np.linspace(0, 299, 100).astype(int).tolist()  # the released code's rule
    assert_exact(video, path)


def test_monotonic_timeline_rules():
    assert monotonic_timeline([0, 1, 2, 4, 3, 5], 1) == ([0, 1, 2, 3, 4, 5], True)
    assert monotonic_timeline([100, 101, 102, 0, 1], 1) == ([100, 101, 102, 103, 104], True)
    assert monotonic_timeline([0, None, 2, 3], 1) == ([0, 1, 2, 3], True)
    assert monotonic_timeline([0, 3, 6], 3) == ([0, 3, 6], False)


@pytest.fixture
def http_server(tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_urls_decode_like_files(tmp_path, http_server):
    path = write_numbered_video(tmp_path / "web.mp4", 40, fps=10, gop=10)
    from_url = decode_video(f"{http_server}/web.mp4", num_frames=8)
    from_file = decode_video(path, num_frames=8)
    assert from_url.frame_indices == from_file.frame_indices and np.array_equal(from_url.frames, from_file.frames)
    assert from_url.path == f"{http_server}/web.mp4"
    with pytest.raises(VideoDecodingError, match="missing.mp4': cannot open the URL"):
        decode_video(f"{http_server}/missing.mp4", num_frames=8)
