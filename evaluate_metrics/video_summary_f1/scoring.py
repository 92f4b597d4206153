# A copy of evaluate_metrics/scoring.py, so that this folder runs on its own: edit that file, then run
# `python -m evaluate_metrics` to refresh the copies.
# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""The math behind the V2Xum metrics, shared by the `evaluate` modules and `v2xum evaluate`.

- FCLIP (package definition; the paper's exact formula is not public): predicted and reference keyframes as CLIP
  embeddings, S = max(cos(P, G), 0); precision = mean over P of each row's max, recall = mean over G of each
  column's max, FCLIP = their harmonic mean. Cross-FCLIP uses the same matching across modalities.
- Frame-level summary F1 in two protocols: VideoXum (1 fps scores, top 15 %, F1 against each annotator) and
  TVSum/SumMe (KTS shots, 0/1 knapsack at 15 % of the duration, F1 max (SumMe) or mean (TVSum) over annotators),
  with Kendall tau / Spearman rho (Otani et al., 2019).
"""

import math

import numpy as np


SUMMARY_RATIO = 0.15


class RequireExamples:
    """Mixin for an `evaluate.Metric`: an empty input list is a clear ValueError (evaluate's own feature inference
    fails on one with an IndexError)."""

    def compute(self, *args, **kwargs):
        """`evaluate.Metric.compute`, refusing empty inputs."""
        for name, values in kwargs.items():
            if name in self._input_names() and values is not None and len(values) == 0:
                raise ValueError(f"{self.name}: '{name}' is empty: give at least one example to score")
        return super().compute(*args, **kwargs)

    def _input_names(self) -> set[str]:
        features = self._info().features
        return {name for f in (features if isinstance(features, list) else [features]) for name in f}


def _finite(values, name: str, ndim: int = 1) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _matrix(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1 and array.size == 0:
        array = array.reshape(0, 0)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a (num_items, embedding_dim) matrix, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def fclip_score(predictions, references) -> dict[str, float]:
    """FCLIP of one example: `predictions` (n, D) and `references` (m, D) embeddings (normalised here).

    An empty prediction scores 0 (precision, recall and F); an empty reference is an error (nothing to match).
    A zero vector has cosine 0 with everything.
    """
    predicted, reference = _matrix(predictions, "predictions"), _matrix(references, "references")
    if reference.shape[0] == 0:
        raise ValueError("references are empty: every example needs at least one reference keyframe or sentence")
    if predicted.shape[0] == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    if predicted.shape[1] != reference.shape[1]:
        raise ValueError(
            f"prediction embeddings have dimension {predicted.shape[1]} but references have {reference.shape[1]}; "
            "embed both with the same CLIP model"
        )
    predicted = predicted / np.maximum(np.linalg.norm(predicted, axis=1, keepdims=True), 1e-12)
    reference = reference / np.maximum(np.linalg.norm(reference, axis=1, keepdims=True), 1e-12)
    similarity = np.maximum(predicted @ reference.T, 0.0)
    precision = float(similarity.max(axis=1).mean())
    recall = float(similarity.max(axis=0).mean())
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def cross_fclip_score(predicted_frames, predicted_texts, reference_frames, reference_texts) -> dict[str, float]:
    """Cross-FCLIP of one example: the mean of FCLIP(predicted frames vs reference sentences) and FCLIP(reference
    frames vs predicted sentences), all as CLIP embeddings in one space. Both halves are returned."""
    frames_vs_text = fclip_score(predicted_frames, reference_texts)
    text_vs_frames = fclip_score(predicted_texts, reference_frames)
    return {
        "cross_fclip": (frames_vs_text["f1"] + text_vs_frames["f1"]) / 2,
        "frames_to_reference_text": frames_vs_text["f1"],
        "text_to_reference_frames": text_vs_frames["f1"],
    }


# -- keyframes as frame scores -------------------------------------------------------------------------------------


def keyframe_frame_scores(keyframe_seconds, sampled_seconds, frame_seconds) -> np.ndarray:
    """Frame scores from a keyframe answer (the one rule used everywhere in this package).

    A frame scores 1 when its nearest sampled frame is a keyframe; any other frame scores `0.5 / (1 + d)`, `d` the
    seconds to the nearest keyframe (so ranking-based metrics still see the frames near keyframes first). Without
    keyframes every frame scores 0.
    """
    frame_seconds = np.asarray(frame_seconds, dtype=np.float64)
    keyframe_seconds = np.asarray(sorted(keyframe_seconds), dtype=np.float64)
    if keyframe_seconds.size == 0:
        return np.zeros_like(frame_seconds)
    sampled = np.asarray(sampled_seconds, dtype=np.float64)
    nearest_sampled = sampled[np.abs(frame_seconds[:, None] - sampled[None, :]).argmin(axis=1)]
    is_keyframe = np.isin(nearest_sampled, keyframe_seconds)
    distance = np.abs(frame_seconds[:, None] - keyframe_seconds[None, :]).min(axis=1)
    return np.where(is_keyframe, 1.0, 0.5 / (1.0 + distance))


# -- selections, F1 and rank correlations --------------------------------------------------------------------------


def f1_binary(machine, user) -> float:
    """F1 of two 0/1 frame selections (0 when they share no frame)."""
    machine, user = np.asarray(machine, dtype=bool), np.asarray(user, dtype=bool)
    if machine.shape != user.shape:
        raise ValueError(f"selections differ in length: {machine.shape[0]} vs {user.shape[0]} frames")
    overlap = np.logical_and(machine, user).sum()
    if overlap == 0:
        return 0.0
    precision, recall = overlap / machine.sum(), overlap / user.sum()
    return float(2 * precision * recall / (precision + recall))


def top_ratio_selection(scores, ratio: float = SUMMARY_RATIO, videoxum_compat: bool = False) -> np.ndarray:
    """The VideoXum selection: the top `ratio` of frames by score, k = int(ratio * T) (at least 1), ties broken
    by position. `videoxum_compat=True` reproduces the reference code instead: threshold at the (k+1)-th score,
    keeping k+1 frames, more on ties."""
    scores = np.asarray(scores, dtype=np.float64)
    k = int(ratio * len(scores))
    if videoxum_compat:
        threshold = np.sort(scores)[::-1][min(k, len(scores) - 1)]
        return scores >= threshold
    selected = np.zeros(len(scores), dtype=bool)
    selected[np.argsort(-scores, kind="stable")[: max(k, 1)]] = True
    return selected


def rank_correlations(predicted, reference) -> tuple[float, float]:
    """(Kendall tau, Spearman rho) of predicted scores against reference scores; 0 where undefined (constant
    input), as in the VideoXum and Otani et al. evaluation code."""
    from scipy import stats

    tau = stats.kendalltau(stats.rankdata(-np.asarray(reference)), stats.rankdata(-np.asarray(predicted))).statistic
    rho = stats.spearmanr(reference, predicted).statistic
    return (0.0 if np.isnan(tau) else float(tau)), (0.0 if np.isnan(rho) else float(rho))


def videoxum_scores(predicted, annotations, videoxum_compat: bool = False) -> dict[str, float]:
    """One video of the VideoXum protocol: `predicted` 1-fps frame scores (T), `annotations` (annotators, T) 0/1."""
    predicted = np.asarray(predicted, dtype=np.float64)
    annotations = np.asarray(annotations, dtype=np.float64)
    if annotations.ndim != 2 or annotations.shape[1] != predicted.shape[0]:
        raise ValueError(
            f"annotations must be (annotators, {predicted.shape[0]}) to match the predicted scores, "
            f"got {annotations.shape}"
        )
    if not (np.isfinite(predicted).all() and np.isfinite(annotations).all()):
        raise ValueError("predicted scores or annotations contain NaN or infinite values")
    selection = top_ratio_selection(predicted, videoxum_compat=videoxum_compat)
    f1s = [f1_binary(selection, user) for user in annotations]
    tau, rho = rank_correlations(predicted, annotations.mean(axis=0))
    return {"f1_max": max(f1s), "f1_mean": float(np.mean(f1s)), "kendall_tau": tau, "spearman_rho": rho}


# -- KTS and knapsack (TVSum / SumMe) ------------------------------------------------------------------------------


def _segment_costs(gram: np.ndarray) -> np.ndarray:
    """cost[i, j] = within-segment scatter of frames i..j-1 (j > i), from the Gram matrix."""
    n = gram.shape[0]
    diagonal = np.concatenate([[0.0], np.cumsum(np.diag(gram))])
    block = np.zeros((n + 1, n + 1))
    block[1:, 1:] = gram.cumsum(axis=0).cumsum(axis=1)
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    length = np.maximum(j - i, 1)
    inner = block[j, j] - block[i, j] - block[j, i] + block[i, i]
    cost = diagonal[j] - diagonal[i] - inner / length
    cost[j <= i] = np.inf
    return cost


def kts_change_points(features, max_change_points: int | None = None, penalty: float = 1.0) -> list[int]:
    """Kernel temporal segmentation (Potapov et al., 2014) with a linear kernel on L2-normalised features.

    For every number of change points m the exact minimum within-segment scatter L_m is found by dynamic
    programming; m is chosen by minimising `L_m / n + penalty * m / n * (log(n / m) + 1)` (the paper's penalty).
    Returns the frame indices where new segments start (not including 0).
    """
    x = _matrix(features, "features")
    n = x.shape[0]
    if n < 2:
        return []
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    cost = _segment_costs(x @ x.T)
    max_cp = min(n - 1, max_change_points if max_change_points is not None else max(1, n // 4))
    best = np.full((max_cp + 1, n + 1), np.inf)  # best[m, j]: frames 0..j-1 in m+1 segments
    back = np.zeros((max_cp + 1, n + 1), dtype=int)
    best[0, 1:] = cost[0, 1:]
    for m in range(1, max_cp + 1):
        for j in range(m + 1, n + 1):
            candidates = best[m - 1, m:j] + cost[m:j, j]
            k = int(np.argmin(candidates))
            best[m, j], back[m, j] = candidates[k], k + m
    objective = [best[m, n] / n + (penalty * m / n * (math.log(n / m) + 1) if m else 0.0) for m in range(max_cp + 1)]
    m = int(np.argmin(objective))
    change_points, j = [], n
    for level in range(m, 0, -1):
        j = back[level, j]
        change_points.append(j)
    return sorted(change_points)


def knapsack(values, weights, capacity: int) -> list[int]:
    """0/1 knapsack by dynamic programming: indices of the items with the largest total value within capacity."""
    values, weights = list(map(float, values)), list(map(int, weights))
    table = np.zeros((len(values) + 1, capacity + 1))
    for i, (value, weight) in enumerate(zip(values, weights), start=1):
        table[i] = table[i - 1]
        if weight <= capacity:
            table[i, weight:] = np.maximum(table[i - 1, weight:], table[i - 1, : capacity + 1 - weight] + value)
    chosen, c = [], capacity
    for i in range(len(values), 0, -1):
        if table[i, c] != table[i - 1, c]:
            chosen.append(i - 1)
            c -= weights[i - 1]
    return sorted(chosen)


def shot_summary(scores, change_points: list[int], ratio: float = SUMMARY_RATIO) -> np.ndarray:
    """0/1 frame summary: shots valued by their mean score, chosen by knapsack within `int(ratio * T)` frames."""
    scores = np.asarray(scores, dtype=np.float64)
    bounds = [0, *change_points, len(scores)]
    shots = [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]
    chosen = knapsack([scores[a:b].mean() for a, b in shots], [b - a for a, b in shots], int(ratio * len(scores)))
    summary = np.zeros(len(scores), dtype=bool)
    for index in chosen:
        summary[shots[index][0] : shots[index][1]] = True
    return summary


def shot_protocol_scores(predicted, annotations, change_points: list[int], aggregate: str) -> dict[str, float]:
    """One video of the TVSum (`aggregate="mean"`) or SumMe (`"max"`) protocol. Annotations that are 0/1 are used
    as user summaries; graded ones (TVSum's 1-5 importance) become summaries through the same shots + knapsack.
    Kendall tau and Spearman rho are averaged over annotators (Otani et al.)."""
    predicted = _finite(predicted, "predicted scores")
    annotations = _finite(annotations, "annotations", ndim=2)
    if annotations.shape[1] != predicted.shape[0]:
        raise ValueError(f"annotations must be (annotators, {predicted.shape[0]}), got {annotations.shape}")
    points = list(change_points)
    if any(isinstance(p, bool) or int(p) != p or not 0 <= p < len(predicted) for p in points) or points != sorted(
        set(points)
    ):
        raise ValueError(f"change_points must be increasing frame indices in [0, {len(predicted)}), got {points[:10]}")
    machine = shot_summary(predicted, change_points)
    binary = set(np.unique(annotations)) <= {0.0, 1.0}
    users = annotations.astype(bool) if binary else [shot_summary(a, change_points) for a in annotations]
    f1s = [f1_binary(machine, user) for user in users]
    correlations = [rank_correlations(predicted, a) for a in annotations]
    return {
        "f1": max(f1s) if aggregate == "max" else float(np.mean(f1s)),
        "kendall_tau": float(np.mean([c[0] for c in correlations])),
        "spearman_rho": float(np.mean([c[1] for c in correlations])),
    }


def event_keyframe_f1(keyframe_seconds, event_spans) -> dict[str, float]:
    """Keyframes against known events (StoryBoard): a keyframe counts when it falls inside an event `[start, end)`
    not already counted (one per event). precision = counted / keyframes, recall = events hit / events."""
    hit, counted = set(), 0
    for t in keyframe_seconds:
        for n, (start, end) in enumerate(event_spans):
            if start <= t < end and n not in hit:
                hit.add(n)
                counted += 1
                break
    precision = counted / len(keyframe_seconds) if len(keyframe_seconds) else 0.0
    recall = len(hit) / len(event_spans) if len(event_spans) else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def vt_clipscore(frame_scores, frame_embeddings, text_embedding, ratio: float = SUMMARY_RATIO) -> float:
    """VT-CLIPScore (VideoXum): cosine of the mean embedding of the top `max(1, int(ratio * T))` frames by score
    and the summary text's embedding."""
    frames = _matrix(frame_embeddings, "frame_embeddings")
    scores = _finite(frame_scores, "frame scores")
    text = _finite(text_embedding, "text_embedding")
    if frames.shape[0] != scores.shape[0]:
        raise ValueError(f"{scores.shape[0]} frame scores but {frames.shape[0]} frame embeddings")
    if frames.shape[1] != text.shape[0]:
        raise ValueError(
            f"frame embeddings have dimension {frames.shape[1]} but the text embedding has "
            f"{text.shape[0]}; embed both with the same CLIP model"
        )
    top = np.argsort(-scores, kind="stable")[: max(1, int(ratio * len(scores)))]
    video = frames[top].mean(axis=0)
    return float(video @ text / max(np.linalg.norm(video) * np.linalg.norm(text), 1e-12))


__all__ = [
    "RequireExamples",
    "fclip_score",
    "cross_fclip_score",
    "keyframe_frame_scores",
    "f1_binary",
    "top_ratio_selection",
    "rank_correlations",
    "videoxum_scores",
    "kts_change_points",
    "knapsack",
    "shot_summary",
    "shot_protocol_scores",
    "vt_clipscore",
    "event_keyframe_f1",
    "SUMMARY_RATIO",
]
