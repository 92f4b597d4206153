"""Exports on hand-made summaries with known keyframes and texts: exact subtitles, image sizes, highlight reels."""

import json

import av
import numpy as np
import pytest
from PIL import Image

from processing import Keyframe, SampledFrames, SummarySentence, VideoSummary, decode_video, parse_summary
from v2xum.export import (
    GAP,
    KEYFRAME_COLOUR,
    LABEL_HEIGHT,
    SubtitleCue,
    contact_sheet,
    export_summary,
    highlight_windows,
    subtitle_cues,
    time_label,
    timeline_strip,
    to_srt,
    to_vtt,
    write_highlights,
)
from v2xum.testing import read_frame_number, write_numbered_video


# 8 sampled frames every 0.5 s of a 4-second video.
TIMELINE = SampledFrames(tuple(i * 0.5 for i in range(8)), tuple(range(0, 80, 10)), 4.0)


def summary_of(answer: str, task: str = "both") -> VideoSummary:
    return parse_summary(answer, TIMELINE, task)


def test_srt_and_vtt_exact():
    summary = summary_of("A red circle appears [f01][f02]. A blue square moves left [f05].")
    cues = subtitle_cues(summary, duration=4.0)
    # First: 0.5 s to its last keyframe + 2 s = 3.0, cut at the next cue (2.5). Second: 2.5 to the end (4.0).
    assert to_srt(cues) == (
        "1\n00:00:00,500 --> 00:00:02,500\nA red circle appears.\n\n"
        "2\n00:00:02,500 --> 00:00:04,000\nA blue square moves left.\n"
    )
    assert to_vtt(cues) == (
        "WEBVTT\n\n"
        "00:00:00.500 --> 00:00:02.500\nA red circle appears.\n\n"
        "00:00:02.500 --> 00:00:04.000\nA blue square moves left.\n"
    )


def test_text_task_shares_the_video_and_gaps_are_filled():
    text = subtitle_cues(summary_of("A man talks. He pours water. He drinks.", "text"), duration=6.0)
    assert [(c.start, c.end, c.text) for c in text] == [
        (0.0, 2.0, "A man talks."),
        (2.0, 4.0, "He pours water."),
        (4.0, 6.0, "He drinks."),
    ]
    mixed = subtitle_cues(summary_of("Intro. A cat jumps [f02]. It sleeps. It wakes [f07]."), duration=4.0)
    # "Intro." fills 0-1 s before the first keyframe; "It sleeps." the free time from 3.0 (1.0 + 2 s) to 3.5.
    assert [(c.start, c.end) for c in mixed] == [(0.0, 1.0), (1.0, 3.0), (3.0, 3.5), (3.5, 4.0)]


def test_video_task_cues_name_keyframes():
    cues = subtitle_cues(summary_of("[f00][f03]", "video"), duration=4.0)
    assert [(c.start, c.end, c.text) for c in cues] == [(0.0, 1.5, "Keyframe 1"), (1.5, 3.5, "Keyframe 2")]


def test_long_times_and_control_characters():
    long = SampledFrames((0.0, 3725.5), (0, 1), 3730.0)
    cues = subtitle_cues(parse_summary("Late\x08 event [f01].", long), duration=3730.0)
    assert to_srt(cues) == "1\n01:02:05,500 --> 01:02:07,500\nLate event.\n"
    assert time_label(3725.5) == "62:05.5" and time_label(3.04) == "0:03.0"


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (8, 72, 96, 3), dtype=np.uint8)


def test_contact_sheet_layout_and_pixels(frames):
    summary = summary_of("One [f00][f02]. Two [f03][f05][f07].")
    sheet = contact_sheet(frames, summary)
    # 5 keyframes: 4 columns, 2 rows of 96x72 thumbnails (frames narrower than 320 px are not scaled).
    assert sheet.size == (4 * 96 + 5 * GAP, 2 * (72 + LABEL_HEIGHT) + 3 * GAP)
    pixels = np.asarray(sheet)
    second_row_first = pixels[GAP + 72 + LABEL_HEIGHT + GAP :][:72, GAP : GAP + 96]
    np.testing.assert_array_equal(second_row_first, frames[7])  # the 5th keyframe
    np.testing.assert_array_equal(pixels[GAP : GAP + 72, GAP + 96 + GAP :][:, :96], frames[2])
    assert contact_sheet(frames, summary_of("No keyframes.")) is None


def test_contact_sheet_scales_wide_frames():
    wide = np.zeros((2, 360, 640, 3), dtype=np.uint8)
    sheet = contact_sheet(wide, summary_of("Both [f00][f01]."))
    assert sheet.size == (2 * 320 + 3 * GAP, 180 + LABEL_HEIGHT + 2 * GAP)


def test_timeline_marks_keyframes(frames):
    strip = timeline_strip(frames, summary_of("Marked [f01][f06]."))
    assert strip.size == (8 * 64 + 9 * GAP, 48 + 3 * GAP)  # 96x72 frames at 48 px high are 64 px wide
    underline_row = np.asarray(strip)[2 * GAP + 48 + 1]
    for n in range(8):
        centre = GAP + n * (64 + GAP) + 32
        assert (tuple(underline_row[centre]) == KEYFRAME_COLOUR) == (n in (1, 6))


def test_highlight_windows_clip_and_merge():
    assert highlight_windows([2.5, 0.5, 1.0], 3.0, before=0.2, after=0.3) == [(0.3, 1.3), (2.3, 2.8)]
    assert highlight_windows([0.0, 9.9], 10.0) == [(0.0, 2.0), (8.9, 10.0)]


@pytest.mark.parametrize("audio", [True, False])
def test_highlight_reel_has_the_window_frames_and_audio(tmp_path, audio):
    source = write_numbered_video(tmp_path / "source.mp4", 90, fps=30, gop=10, audio=audio)
    info = write_highlights(source, [(0.3, 1.3), (2.3, 2.8)], tmp_path / "reel.mp4")
    expected = list(range(9, 39)) + list(range(69, 84))  # t = n / 30 in [0.3, 1.3) and [2.3, 2.8)
    assert info == {"num_frames": 45, "duration": 1.5, "has_audio": audio}
    with av.open(str(tmp_path / "reel.mp4")) as reel:
        assert reel.duration / 1e6 == pytest.approx(1.5, abs=1 / 30)
        assert [read_frame_number(f.to_ndarray(format="rgb24")) for f in reel.decode(video=0)] == expected
        assert bool(reel.streams.audio) is audio
        if audio:
            reel.seek(0)
            samples = np.concatenate([f.to_ndarray() for f in reel.decode(audio=0)], axis=1)
            assert samples.shape[1] == pytest.approx(1.5 * 16000, abs=1024)  # AAC pads at most one frame
            assert np.abs(samples).max() > 0.5  # the 440 Hz tone, not silence


def test_export_summary_writes_every_file_and_keeps_user_files(tmp_path):
    source = write_numbered_video(tmp_path / "clip.mp4", 40, fps=10, audio=True)
    video = decode_video(source, num_frames=8)
    timeline = SampledFrames.from_metadata(video)
    summary = parse_summary("Start [f00]. End [f06].", timeline)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "highlights.mp4").write_bytes(b"stale")
    record = export_summary(summary, video, out, extra={"model": "m"}, highlights=False)
    names = {p.name for p in out.iterdir()}
    assert names == {"notes.txt", "summary.json", "summary.srt", "summary.vtt", "contact_sheet.png", "timeline.png"}
    assert (out / "notes.txt").read_text() == "mine"
    saved = json.loads((out / "summary.json").read_text())
    assert saved == json.loads(json.dumps(record))
    assert saved["model"] == "m" and saved["video"]["duration"] == pytest.approx(4.0)
    assert VideoSummary.from_dict(saved) == summary
    assert Image.open(out / "contact_sheet.png").size == (2 * 160 + 3 * GAP, 120 + LABEL_HEIGHT + 2 * GAP)


def test_summary_dict_round_trip():
    summary = VideoSummary(
        "both", "A b.", "A b [f01].", [SummarySentence("A b.", [1])], [Keyframe(1, 10, 0.5)], ["note"]
    )
    assert VideoSummary.from_dict(summary.to_dict()) == summary


def pitch_steps(path) -> list[float]:
    """Reel seconds where the audio's pitch steps (the test tone changes pitch at every source second)."""
    from v2xum.testing import TONE_STEP_HZ

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate, chunks = stream.rate, []
        for frame in container.decode(stream):
            start = round(frame.pts * stream.time_base * rate)
            chunks.append((start, frame.to_ndarray()[0]))
    total = max(s + len(c) for s, c in chunks)
    audio = np.zeros(total, dtype=np.float32)
    for start, chunk in chunks:
        if start >= 0:
            audio[start : start + len(chunk)] = chunk
        else:
            audio[: len(chunk) + start] = chunk[-start:]
    hop, size = rate // 200, rate // 25  # 5 ms hops, 40 ms windows
    pitches = []
    for begin in range(0, total - size, hop):
        spectrum = np.abs(np.fft.rfft(audio[begin : begin + size] * np.hanning(size)))
        pitches.append(np.argmax(spectrum) * rate / size if spectrum.max() > 1 else 0.0)
    steps = []
    for n in range(1, len(pitches)):
        if pitches[n - 1] and pitches[n] and abs(pitches[n] - pitches[n - 1]) >= TONE_STEP_HZ / 2:
            if not steps or n * hop / rate - steps[-1] > 0.2:
                steps.append((n * hop + size / 2) / rate)
    return steps


def reel_frames(path) -> list[tuple[float, int]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [
            (float(f.pts * stream.time_base), read_frame_number(f.to_ndarray(format="rgb24")))
            for f in container.decode(stream)
        ]


@pytest.mark.parametrize("windows", [[(1.5, 4.2)], [(0.5, 1.2), (2.6, 5.1)], [(0.0, 0.9), (2.0, 2.7), (4.4, 6.0)]])
def test_highlight_reel_keeps_variable_frame_rate_and_audio_in_sync(tmp_path, windows):
    # 10 fps for 3 s, then 4 fps: the reel must keep each frame's own duration and the sound with it.
    times = [i / 10 for i in range(30)] + [3 + i / 4 for i in range(13)]
    source = write_numbered_video(tmp_path / "vfr.mkv", len(times), pts_seconds=times, audio=True)
    out = tmp_path / "reel.mp4"
    written = write_highlights(source, windows, out)

    expected, offset = [], 0.0
    for start, end in windows:
        picked = [i for i, t in enumerate(times) if start <= t < end]
        after = times[picked[-1] + 1] if picked[-1] + 1 < len(times) else times[-1] + 0.25
        expected += [(offset + times[i] - times[picked[0]], i) for i in picked]
        offset += after - times[picked[0]]
    got = reel_frames(out)
    assert [n for _, n in got] == [n for _, n in expected]  # exactly the window frames, in order
    assert [t for t, _ in got] == pytest.approx([t for t, _ in expected], abs=1e-3)  # at the source's timing
    assert written["duration"] == pytest.approx(offset, abs=1e-6)
    with av.open(str(out)) as reel:
        assert reel.streams.audio[0].duration * reel.streams.audio[0].time_base == pytest.approx(offset, abs=0.1)

    # Every whole second of source time inside a window is a pitch step in the reel, where the frames put it.
    wanted_steps, offset = [], 0.0
    for start, end in windows:
        picked = [i for i, t in enumerate(times) if start <= t < end]
        begin, finish = times[picked[0]], (times[picked[-1] + 1] if picked[-1] + 1 < len(times) else 6.25)
        wanted_steps += [offset + second - begin for second in range(1, 7) if begin + 0.1 < second < finish - 0.1]
        offset += finish - begin
    measured = pitch_steps(out)
    for step in wanted_steps:
        assert min(abs(step - m) for m in measured) <= 0.1, (step, measured)  # within one frame (10 fps)


def test_highlight_reel_ignores_a_wrong_header_frame_rate(tmp_path):
    # The header says 75 fps; the frames are 10 fps apart.
    source = write_numbered_video(
        tmp_path / "liar.mkv", 30, fps=75, pts_seconds=[i / 10 for i in range(30)], audio=True
    )
    with av.open(source) as container:
        assert container.streams.video[0].average_rate == 75
    out = tmp_path / "reel.mp4"
    write_highlights(source, [(0.5, 2.0)], out)
    with av.open(str(out)) as reel:
        assert reel.duration / 1e6 == pytest.approx(1.5, abs=0.1)
    assert [n for _, n in reel_frames(out)] == list(range(5, 20))


@pytest.mark.parametrize("text", ["A <unk> goes & comes --> back.", "x<b>y</b> & 1 < 2 > 0", "<i>--></i>"])
def test_subtitle_text_is_escaped(text):
    cue = [SubtitleCue(0.0, 1.0, text)]
    vtt_body = to_vtt(cue).split("\n", 3)[3]
    assert "<" not in vtt_body and "-->" not in vtt_body
    assert vtt_body.strip().replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == text
    srt_body = to_srt(cue).split("\n", 2)[2]
    assert (
        "<" not in srt_body
        and "-->" not in srt_body
        and srt_body.strip().replace("‹", "<").replace("›", ">") == text.replace("-->", "->")
    )
