# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""FCLIP: CLIP-based precision, recall and F between predicted and reference keyframes (the V2Xum package's
definition; see README.md)."""

import datasets
import evaluate
import numpy as np

from .clip_backends import ClipMetricMixin
from .scoring import RequireExamples, fclip_score


_DESCRIPTION = """FCLIP compares a predicted video summary (keyframes) with a reference one by CLIP similarity, so a
keyframe next to the annotated one still counts. With S = max(cos(P, G), 0) between predicted embeddings P and
reference embeddings G: precision = mean over P of the best match in G, recall = mean over G of the best match in P,
FCLIP = their harmonic mean. The V2Xum paper does not publish its formula; this is the package's own definition."""

_INPUTS = """
Args:
    predictions: per example, the predicted keyframes: a (n, D) array of CLIP image embeddings, or a list of images
        (PIL images, (H, W, 3) uint8 arrays or file paths), embedded by the module's CLIP.
    references: per example, the reference keyframes, in the same form.
Returns:
    fclip, fclip_precision, fclip_recall: averages over examples;
    fclip_per_example, fclip_precision_per_example, fclip_recall_per_example: one value per example.
An empty prediction scores 0; an empty reference, NaN values or embeddings of different sizes raise ValueError.
"""

_CITATION = """@inproceedings{hua2025v2xum,
  title={V2Xum-LLM: Cross-Modal Video Summarization with Temporal Prompt Instruction Tuning},
  author={Hua, Hang and Tang, Yunlong and Xu, Chenliang and Luo, Jiebo},
  booktitle={AAAI}, year={2025}}"""

_EMBEDDINGS = datasets.Sequence(datasets.Sequence(datasets.Value("float32")))
_IMAGES = datasets.Sequence(datasets.Image())


class Fclip(RequireExamples, ClipMetricMixin, evaluate.Metric):
    """Loaded with `evaluate.load("evaluate_metrics/fclip", clip_model=..., clip_backend=...)`; the CLIP model is
    only loaded when images (not embeddings) are given."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_INPUTS,
            features=[
                datasets.Features({"predictions": _EMBEDDINGS, "references": _EMBEDDINGS}),
                datasets.Features({"predictions": _IMAGES, "references": _IMAGES}),
            ],
            reference_urls=["https://arxiv.org/abs/2404.12353"],
        )

    def _compute(self, predictions, references, **kwargs):
        scores = [fclip_score(self.as_embeddings(p), self.as_embeddings(r)) for p, r in zip(predictions, references)]
        f1 = [s["f1"] for s in scores]
        precision = [s["precision"] for s in scores]
        recall = [s["recall"] for s in scores]
        return {
            "fclip": float(np.mean(f1)),
            "fclip_precision": float(np.mean(precision)),
            "fclip_recall": float(np.mean(recall)),
            "fclip_per_example": f1,
            "fclip_precision_per_example": precision,
            "fclip_recall_per_example": recall,
        }
