# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Cross-FCLIP: FCLIP matching across modalities for video + text summaries (the V2Xum package's definition)."""

import datasets
import evaluate
import numpy as np

from .clip_backends import ClipMetricMixin
from .scoring import RequireExamples, cross_fclip_score


_DESCRIPTION = """Cross-FCLIP scores a joint video + text summary against a reference one across modalities, in
CLIP's shared image-text space: FCLIP(predicted keyframes vs reference sentences) and FCLIP(reference keyframes vs
predicted sentences), averaged. FCLIP: S = max(cos, 0), precision = mean row max, recall = mean column max, F =
harmonic mean. The paper's exact formula is not public; this is the package's own definition."""

_INPUTS = """
Args:
    prediction_frames, reference_frames: per example, keyframes as (n, D) CLIP image embeddings, or images.
    prediction_texts, reference_texts: per example, summary sentences as (n, D) CLIP text embeddings, or strings.
Returns:
    cross_fclip (mean of the two halves), cross_fclip_frames_to_text (predicted frames vs reference sentences),
    cross_fclip_text_to_frames (predicted sentences vs reference frames), each averaged, and *_per_example lists.
"""

_CITATION = """@inproceedings{hua2025v2xum,
  title={V2Xum-LLM: Cross-Modal Video Summarization with Temporal Prompt Instruction Tuning},
  author={Hua, Hang and Tang, Yunlong and Xu, Chenliang and Luo, Jiebo},
  booktitle={AAAI}, year={2025}}"""

_EMBEDDINGS = datasets.Sequence(datasets.Sequence(datasets.Value("float32")))
_NAMES = ("prediction_frames", "prediction_texts", "reference_frames", "reference_texts")


class CrossFclip(RequireExamples, ClipMetricMixin, evaluate.Metric):
    """Loaded with `evaluate.load("evaluate_metrics/cross_fclip", clip_model=...)`; CLIP is loaded only for raw
    images or texts."""

    def _info(self):
        raw = {
            "prediction_frames": datasets.Sequence(datasets.Image()),
            "prediction_texts": datasets.Sequence(datasets.Value("string")),
            "reference_frames": datasets.Sequence(datasets.Image()),
            "reference_texts": datasets.Sequence(datasets.Value("string")),
        }
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_INPUTS,
            features=[datasets.Features({name: _EMBEDDINGS for name in _NAMES}), datasets.Features(raw)],
            reference_urls=["https://arxiv.org/abs/2404.12353"],
        )

    def _compute(self, prediction_frames, prediction_texts, reference_frames, reference_texts, **kwargs):
        scores = [
            cross_fclip_score(*(self.as_embeddings(x) for x in example))
            for example in zip(prediction_frames, prediction_texts, reference_frames, reference_texts)
        ]
        result = {}
        for key, name in (
            ("cross_fclip", "cross_fclip"),
            ("frames_to_reference_text", "cross_fclip_frames_to_text"),
            ("text_to_reference_frames", "cross_fclip_text_to_frames"),
        ):
            values = [s[key] for s in scores]
            result[name] = float(np.mean(values))
            result[f"{name}_per_example"] = values
        return result
