"""Every malformed row a user can hand in is refused before any work, naming the file, the line, the field and the
value; baselines never see the answer; answers without keyframes score 0."""

import json

import numpy as np
import pytest

from processing import SampledFrames, VideoSummary
from v2xum.cli import main as v2xum
from v2xum.evaluation import baseline_summaries, score_summaries
from v2xum.testing import write_numbered_video
from v2xum.training_data import load_training_examples


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    """A 4 s video (40 frames at 10 fps) beside the rows."""
    root = tmp_path_factory.mktemp("rows")
    write_numbered_video(root / "a.mp4", 40, fps=10)
    return root


GOOD = {"video": "a.mp4", "task": "both", "sentences": [{"text": "A square.", "seconds": [1.0]}]}

# (how the row differs from GOOD, the field the message must name, words it must say)
TRAINING_CASES = [
    ({"sentences": [{"text": "x", "seconds": [999.0]}]}, "sentences[0].seconds[0]", "past the end of"),
    ({"duration": 20.0, "sentences": [{"text": "x", "grid": [61]}]}, "duration", "is 4.00 s long"),
    ({"sentences": [{"text": "x", "seconds": [float("nan")]}]}, "sentences[0].seconds[0]", "must be finite"),
    ({"sentences": [{"text": "x", "seconds": [float("inf")]}]}, "sentences[0].seconds[0]", "must be finite"),
    ({"sentences": [{"text": "x", "seconds": [True]}]}, "sentences[0].seconds[0]", "must be a number"),
    ({"sentences": [{"text": "x", "seconds": 3.0}]}, "sentences[0].seconds", "must be a list"),
    ({"sentences": [{"text": "x", "seconds": [-1]}]}, "sentences[0].seconds[0]", "must be in [0"),
    ({"sentences": [{"text": "x", "grid": [100]}], "duration": 4.0}, "sentences[0].grid[0]", "must be in [0"),
    ({"sentences": [{"text": "x", "grid": [5.5]}], "duration": 4.0}, "sentences[0].grid[0]", "must be an integer"),
    ({"sentences": [{"text": "x", "grid": [5]}]}, "duration", "need the video's duration"),
    ({"sentences": [{"text": None, "seconds": [1.0]}]}, "sentences[0].text", "must be a string"),
    ({"sentences": ["A square."]}, "sentences[0]", "must be an object"),
    ({"sentences": []}, "sentences", "non-empty list"),
    ({"duration": "20"}, "duration", "must be a number"),
    ({"query": 5}, "query", "must be a string or null"),
    ({"task": "audio"}, "task", "must be one of"),
    ({"video": ""}, "video", "non-empty string"),
    ({"task": "video", "sentences": [{"text": "x"}]}, "sentences", "needs at least one keyframe"),
]


@pytest.mark.parametrize("change, field, words", TRAINING_CASES)
def test_malformed_training_rows_are_named(clip_dir, tmp_path, change, field, words):
    path = tmp_path / "train.jsonl"
    rows = [GOOD, {**GOOD, **change}]  # the bad row is on line 3, after a blank line
    path.write_text(json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1], allow_nan=True) + "\n")
    with pytest.raises(ValueError) as error:
        load_training_examples(path, video_root=clip_dir)
    message = str(error.value)
    assert message.startswith(f"{path} line 3: '{field}' = ") and words in message, message


@pytest.mark.parametrize(
    "content, words",
    [
        ("this is not json\n", "line 1: not a JSON object"),
        ("[1, 2]\n" + json.dumps(GOOD) + "\n", "line 1: '(row)' = [1, 2]: each row must be a JSON object"),
    ],
)
def test_unreadable_training_lines_are_named(clip_dir, tmp_path, content, words):
    path = tmp_path / "train.jsonl"
    path.write_text(content)
    with pytest.raises(
        ValueError, match=words.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")
    ):
        load_training_examples(path, video_root=clip_dir)


def test_mixed_query_types_are_refused_before_arrow_sees_them(clip_dir, tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps({**GOOD, "query": "the square"}) + "\n" + json.dumps({**GOOD, "query": 5}) + "\n")
    with pytest.raises(ValueError, match=r"line 2: 'query' = 5"):
        load_training_examples(path, video_root=clip_dir)


def test_overlong_example_names_its_row_and_video(clip_dir, tmp_path, tiny_processor):
    from v2xum.collator import V2XumDataCollator

    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(GOOD) + "\n")
    example = load_training_examples(path, video_root=clip_dir)[0]
    with pytest.raises(ValueError, match=rf"{path} line 1 \(.*a.mp4\) is \d+ tokens .* longer than max_length=30"):
        V2XumDataCollator(tiny_processor, num_frames=8, max_length=30)([example])


PREDICTION = {
    "video": "a.mp4",
    "task": "video",
    "text": "",
    "raw_text": "[f01]",
    "sentences": [],
    "keyframes": [{"index": 1, "frame_index": 5, "seconds": 0.5}],
    "warnings": [],
}

PREDICTION_CASES = [
    ("random text", None, "line 1: not a JSON object"),
    ("5", "(row)", "must be a JSON object"),
    ({**PREDICTION, "task": None}, "task", "must be a non-empty string"),
    ({k: v for k, v in PREDICTION.items() if k != "task"}, "task", "must be a non-empty string"),
    ({**PREDICTION, "text": None}, "text", "must be a string"),
    (
        {**PREDICTION, "keyframes": [{"index": 999, "frame_index": 5, "seconds": 0.5}]},
        "keyframes[0].index",
        "only 8 frames were sampled",
    ),
    (
        {**PREDICTION, "keyframes": [{"index": "5", "frame_index": 5, "seconds": 0.5}]},
        "keyframes[0].index",
        "must be an integer",
    ),
    (
        {**PREDICTION, "keyframes": [{"index": -1, "frame_index": 5, "seconds": 0.5}]},
        "keyframes[0].index",
        "must be in [0",
    ),
    (
        {**PREDICTION, "keyframes": [{"index": 1, "frame_index": 5, "seconds": float("inf")}]},
        "keyframes[0].seconds",
        "must be finite",
    ),
    (
        {**PREDICTION, "keyframes": [{"index": 1, "frame_index": 5, "seconds": 99.0}]},
        "keyframes[0].seconds",
        "past the end of the video",
    ),
    ({**PREDICTION, "sentences": "x"}, "sentences", "must be a list"),
    ({**PREDICTION, "video": None}, "video", "must be the video's path"),
    # Self-consistent: what the sentences name, the keyframes' order, seconds that match their frame, each task's
    # answer present.
    (
        {**PREDICTION, "task": "both", "text": "A.", "sentences": [{"text": "A.", "keyframes": [3]}]},
        "sentences[0].keyframes",
        "names keyframes not in 'keyframes'",
    ),
    (
        {
            **PREDICTION,
            "keyframes": [
                {"index": 2, "frame_index": 9, "seconds": 1.0},
                {"index": 1, "frame_index": 5, "seconds": 0.5},
            ],
        },
        "keyframes",
        "must be increasing, each once",
    ),
    (
        {**PREDICTION, "keyframes": [{"index": 1, "frame_index": 5, "seconds": 3.5}]},
        "keyframes[0].seconds",
        "sampled frame 1 is at",
    ),
    ({k: v for k, v in PREDICTION.items() if k != "keyframes"}, "keyframes", "a 'video' prediction must give"),
    ({**{k: v for k, v in PREDICTION.items() if k != "text"}, "task": "text"}, "text", "a 'text' prediction must"),
    ('{"task": "video", "n": ' + "9" * 5000 + "}", None, "line 1: not a usable JSON row"),
]


@pytest.mark.parametrize("row, field, words", PREDICTION_CASES)
def test_malformed_prediction_rows_are_named_before_any_output(
    clip_dir, tmp_path, tiny_clip_dir, capsys, row, field, words
):
    (tmp_path / "test.jsonl").write_text(json.dumps({**GOOD, "video": str(clip_dir / "a.mp4"), "task": "video"}))
    bad = row if not isinstance(row, dict) or row.get("video") is None else {**row, "video": str(clip_dir / "a.mp4")}
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text((bad if isinstance(bad, str) else json.dumps(bad)) + "\n")
    out = tmp_path / "out"
    assert (
        v2xum(
            [
                "evaluate",
                "--predictions",
                str(predictions),
                "--data",
                str(tmp_path / "test.jsonl"),
                "--out",
                str(out),
                "--clip-model",
                str(tiny_clip_dir),
                "--num-frames",
                "8",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert f"{predictions} line 1" in err and words in err, err
    if field:
        assert f"'{field}' = " in err, err
    assert not out.exists()  # nothing written


def test_conflicting_duplicate_predictions_are_refused(clip_dir, tmp_path, tiny_clip_dir, capsys):
    (tmp_path / "test.jsonl").write_text(json.dumps({**GOOD, "video": str(clip_dir / "a.mp4"), "task": "video"}))
    first = {**PREDICTION, "video": str(clip_dir / "a.mp4")}
    other = {**first, "keyframes": [{"index": 2, "frame_index": 10, "seconds": 1.0}]}
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text(json.dumps(first) + "\n" + json.dumps(first) + "\n" + json.dumps(other) + "\n")
    assert (
        v2xum(
            [
                "evaluate",
                "--predictions",
                str(predictions),
                "--data",
                str(tmp_path / "test.jsonl"),
                "--out",
                str(tmp_path / "out"),
                "--clip-model",
                str(tiny_clip_dir),
                "--num-frames",
                "8",
            ]
        )
        == 2
    )
    assert f"{predictions} line 3: 'video'" in capsys.readouterr().err


def _timeline(n=10):
    return SampledFrames(tuple(float(i) for i in range(n)), tuple(range(n)), float(n))


def test_random_baseline_never_says_the_videos_own_references():
    references = [f"Sentence {i}." for i in range(6)]
    examples = [
        {
            "video": f"v{i}.mp4",
            "task": "both",
            "duration": 10.0,
            "sentences": [{"text": references[i], "seconds": [2.0]}, {"text": references[i + 1], "seconds": [6.0]}],
        }
        for i in range(5)
    ]
    corpus = references + ["Another thing happens."] * 3
    for seed in range(20):
        runs = baseline_summaries(examples, [_timeline()] * 5, corpus, seed=seed)
        for example, summary in zip(examples, runs["random"]):
            own = {s["text"] for s in example["sentences"]}
            said = {s.text for s in summary.sentences}
            assert said and not said & own
            assert len(summary.keyframes) == 2  # the protocol's count, nothing more
    without = baseline_summaries(examples, [_timeline()] * 5, None)
    assert all(not s.text for s in without["random"] + without["uniform"])


def test_answers_without_keyframes_score_zero():
    example = {
        "video": "v.mp4",
        "task": "video",
        "duration": 10.0,
        "sentences": [{"text": "x", "seconds": [4.0]}],
        "scenes": [{"start": 3.0, "end": 5.0, "kind": "event"}],
    }
    empty = VideoSummary("video", "", "", [], [])
    embeddings = np.eye(10, dtype=np.float32)
    results = score_summaries([example], [empty], [_timeline()], [embeddings], None)["video"]
    assert {k: v for k, v in results.items() if k != "modality_accuracy"} == {
        "event_keyframe_f1": 0.0,
        "keyframe_f1_max": 0.0,
        "keyframe_f1_mean": 0.0,
        "kendall_tau": 0.0,
        "spearman_rho": 0.0,
        "fclip": 0.0,
    }
