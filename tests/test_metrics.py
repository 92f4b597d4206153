"""Metrics: known answers, agreement with sklearn/scipy/pycocoevalcap, the evaluate modules, and bad inputs."""

import itertools
import os
import re

import evaluate
import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import f1_score

from evaluate_metrics.scoring import (
    cross_fclip_score,
    f1_binary,
    fclip_score,
    keyframe_frame_scores,
    knapsack,
    kts_change_points,
    shot_protocol_scores,
    shot_summary,
    top_ratio_selection,
    videoxum_scores,
    vt_clipscore,
)
from evaluate_metrics.text_scoring import caption_scores, java_available, pre_caption


METRICS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "evaluate_metrics")


def test_fclip_known_answers():
    assert fclip_score(np.eye(3), np.eye(3)) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert fclip_score(np.eye(4)[:2], np.eye(4)[2:]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    # P = {e1, e2}, G = {e1}: rows max (1, 0) -> precision 0.5; column max 1 -> recall 1; F = 2/3.
    assert fclip_score(np.eye(2), [[1.0, 0.0]]) == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3})
    # P = {(1, 0)}, G = {(0.6, 0.8), (0, 1)}: S = [0.6, 0] -> precision 0.6, recall 0.3, F = 0.4 (scale-free).
    assert fclip_score([[3.0, 0.0]], [[0.6, 0.8], [0.0, 2.0]]) == pytest.approx(
        {"precision": 0.6, "recall": 0.3, "f1": 0.4}
    )
    assert fclip_score([[1.0, 0.0]], [[-1.0, 0.0]])["f1"] == 0.0  # negative cosine clipped to 0


def test_cross_fclip_halves():
    e = np.eye(4)
    both = cross_fclip_score(e[:2], e[2:], e[2:], e[:2])
    assert both == {"cross_fclip": 1.0, "frames_to_reference_text": 1.0, "text_to_reference_frames": 1.0}
    half = cross_fclip_score(e[:2], e[:2], e[2:], e[:2])  # predicted frames match reference text; texts miss frames
    assert half == {"cross_fclip": 0.5, "frames_to_reference_text": 1.0, "text_to_reference_frames": 0.0}


def test_bad_inputs():
    assert fclip_score(np.zeros((0, 4)), np.eye(4)) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    with pytest.raises(ValueError, match="references are empty"):
        fclip_score(np.eye(4), np.zeros((0, 4)))
    with pytest.raises(ValueError, match="dimension 3 but references have 4"):
        fclip_score(np.eye(3), np.eye(4))
    with pytest.raises(ValueError, match="NaN"):
        fclip_score([[np.nan, 1.0]], [[1.0, 0.0]])
    with pytest.raises(ValueError, match="annotations must be \\(annotators, 5\\)"):
        videoxum_scores(np.ones(5), np.ones((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        videoxum_scores([0.1, np.nan], [[1, 0]])


def test_keyframe_frame_scores_rule():
    sampled = [0.0, 2.0, 4.0, 6.0]
    seconds = np.arange(8.0)
    scores = keyframe_frame_scores([2.0], sampled, seconds)
    # 1 s is nearer to sampled 0 s (tie goes to the first), 2-3 s to the keyframe at 2 s.
    np.testing.assert_allclose(scores, [0.5 / 3, 0.25, 1.0, 1.0, 0.5 / 3, 0.5 / 4, 0.5 / 5, 0.5 / 6])
    assert keyframe_frame_scores([], sampled, seconds).tolist() == [0.0] * 8


def test_f1_and_correlations_match_sklearn_and_scipy():
    rng = np.random.default_rng(0)
    for _ in range(20):
        machine, user = rng.random(50) > 0.7, rng.random(50) > 0.6
        assert f1_binary(machine, user) == pytest.approx(f1_score(user, machine, zero_division=0))
    predicted = rng.random(60)
    annotators = (rng.random((10, 60)) > 0.85).astype(float)
    scores = videoxum_scores(predicted, annotators)
    selection = top_ratio_selection(predicted)
    assert selection.sum() == 9  # int(0.15 * 60)
    expected = [f1_score(a, selection) for a in annotators]
    assert scores["f1_max"] == pytest.approx(max(expected)) and scores["f1_mean"] == pytest.approx(np.mean(expected))
    mean = annotators.mean(axis=0)
    assert scores["kendall_tau"] == pytest.approx(
        stats.kendalltau(stats.rankdata(-mean), stats.rankdata(-predicted)).statistic
    )
    assert scores["spearman_rho"] == pytest.approx(stats.spearmanr(mean, predicted).statistic)
    assert top_ratio_selection(predicted, videoxum_compat=True).sum() == 10  # the reference code's k + 1
    assert videoxum_scores(np.ones(20), annotators[:, :20])["kendall_tau"] == 0.0  # undefined -> 0


def test_knapsack_matches_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(100):
        n = int(rng.integers(1, 8))
        values, weights, capacity = rng.random(n), rng.integers(1, 6, n), int(rng.integers(0, 15))
        best = max(
            sum(values[list(c)])
            for r in range(n + 1)
            for c in itertools.combinations(range(n), r)
            if sum(weights[list(c)]) <= capacity
        )
        chosen = knapsack(values, weights, capacity)
        assert sum(weights[chosen]) <= capacity and sum(values[chosen]) == pytest.approx(best)


def test_kts_finds_planted_change_points():
    rng = np.random.default_rng(2)
    lengths = [20, 35, 15, 30]
    centres = rng.normal(size=(4, 16))
    features = np.concatenate([np.repeat(centres[i : i + 1], n, axis=0) for i, n in enumerate(lengths)])
    features += rng.normal(scale=0.1, size=features.shape)
    assert kts_change_points(features) == [20, 55, 70]
    assert kts_change_points(rng.normal(size=(1, 4))) == []


def test_shot_protocols():
    scores = np.array([0.9] * 5 + [0.1] * 25 + [0.8] * 10)
    shots = [5, 30]  # shots of 5, 25 and 10 frames; capacity int(0.15 * 40) = 6 frames
    assert shot_summary(scores, shots).tolist() == [True] * 5 + [False] * 35
    users = np.array([[1] * 5 + [0] * 35, [0] * 30 + [1] * 10], dtype=float)
    assert shot_protocol_scores(scores, users, shots, "max")["f1"] == 1.0  # SumMe: best annotator
    assert shot_protocol_scores(scores, users, shots, "mean")["f1"] == 0.5  # TVSum: average


def test_vt_clipscore():
    frames = np.eye(4)[[0, 0, 1, 2, 3, 3, 3, 1, 2, 0]]
    scores = np.arange(10)[::-1] / 10.0  # top int(0.15 * 10) = 1 frame: frame 0, embedding e1
    assert vt_clipscore(scores, frames, [1.0, 0, 0, 0]) == pytest.approx(1.0)
    assert vt_clipscore(scores, frames, [0, 1.0, 0, 0]) == pytest.approx(0.0)


def test_text_metrics_match_pycocoevalcap_directly():
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    predictions = ["A man cuts onions. He fries them!", "A dog runs.", "Two kids play football (outside)."]
    references = [
        ["A man is cutting onions.", "He fries the onions."],
        "A dog runs in a field.",
        ["Kids play football.", "One of them scores."],
    ]
    ours = caption_scores(predictions, references, use_java=False)
    assert pre_caption('He said: "Hi!" (twice)~') == "he said hi twice"
    gts = {
        str(i): [" ".join(pre_caption(" ".join(r) if isinstance(r, list) else r).split())]
        for i, r in enumerate(references)
    }
    res = {str(i): [pre_caption(p)] for i, p in enumerate(predictions)}
    assert ours["bleu4"] == pytest.approx(Bleu(4).compute_score(gts, res, verbose=0)[0][3])
    assert ours["rouge_l"] == pytest.approx(Rouge().compute_score(gts, res)[0])
    assert ours["cider"] == pytest.approx(Cider().compute_score(gts, res)[0])
    assert ours["meteor"] is None and ours["tokenizer"] == "simple"
    import sacrebleu

    same = caption_scores(["a dog runs in a field"], ["A dog runs in a field."], use_java=False)
    assert same["bleu4"] == pytest.approx(
        sacrebleu.corpus_bleu(["a dog runs in a field"], [["a dog runs in a field"]]).score / 100
    )


@pytest.mark.skipif(not java_available(), reason="METEOR and the PTB tokenizer need Java")
def test_meteor_with_java_matches_pycocoevalcap():
    from pycocoevalcap.meteor.meteor import Meteor

    ours = caption_scores(["a man cuts onions"], ["A man is cutting onions."], use_java=True)
    direct = Meteor().compute_score({"0": ["a man is cutting onions"]}, {"0": ["a man cuts onions"]})[0]
    assert ours["tokenizer"] == "ptb" and ours["meteor"] == pytest.approx(direct)


@pytest.mark.parametrize("name", ["fclip", "cross_fclip", "video_summary_f1", "video_summary_text"])
def test_modules_load_offline_from_their_folders(name):
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    module = evaluate.load(os.path.join(METRICS, name))
    assert module.name == name and "README.md" in os.listdir(os.path.join(METRICS, name))


def test_module_results_and_combine():
    e = np.eye(4)
    fclip = evaluate.load(os.path.join(METRICS, "fclip"))
    result = fclip.compute(predictions=[e[:2], np.eye(2)], references=[e[:2], [[1.0, 0.0]]])
    assert result["fclip_per_example"] == pytest.approx([1.0, 2 / 3])
    assert result["fclip"] == pytest.approx(5 / 6)
    combined = evaluate.combine([os.path.join(METRICS, "fclip"), os.path.join(METRICS, "cross_fclip")])
    both = combined.compute(
        predictions=[e[:2]],
        references=[e[2:]],
        prediction_frames=[e[:2]],
        prediction_texts=[e[2:]],
        reference_frames=[e[2:]],
        reference_texts=[e[:2]],
    )
    assert both["fclip"] == 0.0 and both["cross_fclip"] == 1.0
    f1 = evaluate.load(os.path.join(METRICS, "video_summary_f1"))
    assert (
        f1.compute(predictions=[[0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]], references=[[[1, 0, 0, 0, 0, 0, 0]]])["f1_max"]
        == 1.0
    )
    tvsum = f1.compute(
        predictions=[[0.9] * 5 + [0.1] * 25 + [0.8] * 10],
        references=[[[1] * 5 + [0] * 35]],
        protocol="tvsum",
        change_points=[[5, 30]],
    )
    assert tvsum["f1"] == 1.0
    with pytest.raises(ValueError, match="needs frame_features"):
        f1.compute(predictions=[[0.5, 0.4]], references=[[[1, 0]]], protocol="summe")


def test_clip_backend_embeds_images_and_texts(tiny_clip_dir):
    fclip = evaluate.load(os.path.join(METRICS, "fclip"), clip_model=str(tiny_clip_dir))
    red = np.zeros((40, 40, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((40, 40, 3), np.uint8)
    blue[..., 2] = 255
    assert fclip.compute(predictions=[[red, blue]], references=[[blue, red]])["fclip"] == pytest.approx(1.0, abs=1e-5)
    cross = evaluate.load(os.path.join(METRICS, "cross_fclip"), clip_model=str(tiny_clip_dir))
    out = cross.compute(
        prediction_frames=[[red]],
        prediction_texts=[["a red square"]],
        reference_frames=[[blue]],
        reference_texts=[["a blue square"]],
    )
    assert 0.0 <= out["cross_fclip"] <= 1.0


NAN = float("nan")
TEN = [0.1] * 10
ANNOTATED = [[1] * 5 + [0] * 5]


@pytest.mark.parametrize(
    "name, inputs, words",
    [
        ("fclip", {"predictions": [], "references": []}, "'predictions' is empty"),
        (
            "cross_fclip",
            {"prediction_frames": [], "prediction_texts": [], "reference_frames": [], "reference_texts": []},
            "'prediction_frames' is empty",
        ),
        ("video_summary_f1", {"predictions": [], "references": []}, "'predictions' is empty"),
        ("video_summary_text", {"predictions": [], "references": []}, "'predictions' is empty"),
        ("fclip", {"predictions": [[[NAN, 1.0]]], "references": [[[1.0, 0.0]]]}, "NaN or infinite"),
        (
            "fclip",
            {"predictions": [[[1.0, 0.0, 0.0]]], "references": [[[1.0, 0.0]]]},
            "dimension 3 but references have 2",
        ),
        ("video_summary_f1", {"predictions": [[NAN] * 10], "references": [ANNOTATED]}, "NaN or infinite"),
        (
            "video_summary_f1",
            {"predictions": [[NAN] * 10], "references": [ANNOTATED], "protocol": "tvsum", "change_points": [[5]]},
            "NaN or infinite",
        ),
        (
            "video_summary_f1",
            {"predictions": [[NAN] * 10], "references": [ANNOTATED], "protocol": "summe", "change_points": [[5]]},
            "NaN or infinite",
        ),
        (
            "video_summary_f1",
            {"predictions": [TEN], "references": [ANNOTATED], "protocol": "tvsum", "change_points": [[-3, 5]]},
            "change_points must be increasing frame indices",
        ),
        (
            "video_summary_f1",
            {
                "predictions": [TEN],
                "references": [ANNOTATED],
                "frame_embeddings": [np.eye(10)],
                "text_embeddings": [[NAN] * 10],
            },
            "text_embedding contains NaN",
        ),
        (
            "video_summary_f1",
            {
                "predictions": [TEN],
                "references": [ANNOTATED],
                "frame_embeddings": [np.eye(10)],
                "text_embeddings": [[1.0] * 4],
            },
            "dimension 10 but the text embedding has 4",
        ),
    ],
)
def test_modules_refuse_bad_inputs_in_every_protocol(name, inputs, words):
    module = evaluate.load(os.path.join(METRICS, name))
    with pytest.raises(ValueError, match=re.escape(words)):
        module.compute(**inputs)


def test_text_metrics_without_java_keep_every_script():
    """The Java-free tokenizer keeps letters of any script (it used to keep only [a-z0-9] and fail on others)."""
    predictions = ["Ein Mann schneidet Zwiebeln.", "Мужчина режет лук.", "男人切洋葱。"]
    references = [["Ein Mann schneidet Zwiebeln."], ["Мужчина режет лук."], ["男人切洋葱。"]]
    scores = caption_scores(predictions, references, use_java=False)
    assert scores["tokenizer"] == "simple" and scores["bleu4"] == pytest.approx(1.0) and scores["rouge_l"] == 1.0
    wrong = caption_scores(["Мужчина ест хлеб.", "Ein Hund.", "狗跑。"], references, use_java=False)
    assert wrong["bleu4"] < 0.5 and wrong["rouge_l"] < 0.6
