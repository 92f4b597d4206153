# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Frame-level video summarization metrics: F1, Kendall tau, Spearman rho (VideoXum or TVSum/SumMe protocol), and
VT-CLIPScore."""

import datasets
import evaluate
import numpy as np

from .scoring import RequireExamples, kts_change_points, shot_protocol_scores, videoxum_scores, vt_clipscore


_DESCRIPTION = """Scores predicted per-frame importance against annotators.

protocol="videoxum" (VideoXum, Lin et al. 2023): frames at 1 fps; the top 15% by score form the summary
(k = int(0.15 T); videoxum_compat=True reproduces the reference code's threshold, which keeps k+1 frames); F1
against each annotator's 0/1 selection, reported as max and mean over annotators; Kendall tau and Spearman rho
against the mean annotation; optional VT-CLIPScore.

protocol="tvsum" / "summe": shots by kernel temporal segmentation of frame features (or given change points),
shot value = mean score, 0/1 knapsack within 15% of the frames; F1 averaged (TVSum) or maxed (SumMe) over
annotators; tau and rho averaged over annotators (Otani et al. 2019). 0/1 annotations are user summaries; graded
ones (TVSum's 1-5) become summaries through the same shots and knapsack.

Keyframe answers become frame scores with evaluate_metrics.scoring.keyframe_frame_scores: 1 for frames whose
nearest sampled frame is a keyframe, else 0.5 / (1 + seconds to the nearest keyframe)."""

_INPUTS = """
Args:
    predictions: per video, a score per frame (T values).
    references: per video, one row of T values per annotator.
    protocol: "videoxum" (default), "tvsum" or "summe".
    videoxum_compat: VideoXum's k+1 selection (default False).
    frame_features: tvsum/summe, per video (T, D) features for KTS; or change_points: per video, shot starts.
    frame_embeddings, text_embeddings: videoxum, per video (T, D) CLIP frame embeddings and the summary's (D,)
        text embedding, for VT-CLIPScore.
Returns:
    videoxum: f1_max, f1_mean, kendall_tau, spearman_rho (means over videos), vt_clipscore when embeddings are
    given; tvsum/summe: f1, kendall_tau, spearman_rho. Also per_video: the per-video values.
"""

_CITATION = """@article{lin2023videoxum, title={VideoXum: Cross-modal Visual and Textural Summarization of Videos},
  author={Lin, Jingyang and Hua, Hang and Chen, Ming and Li, Yikang and Hsiao, Jenhao and Ho, Chiuman and Luo, Jiebo},
  journal={IEEE Transactions on Multimedia}, year={2023}}
@inproceedings{otani2019rethinking, title={Rethinking the Evaluation of Video Summaries},
  author={Otani, Mayu and Nakashima, Yuta and Rahtu, Esa and Heikkil{\\"a}, Janne}, booktitle={CVPR}, year={2019}}
@inproceedings{potapov2014category, title={Category-specific video summarization},
  author={Potapov, Danila and Douze, Matthijs and Harchaoui, Zaid and Schmid, Cordelia},
  booktitle={ECCV}, year={2014}}"""


class VideoSummaryF1(RequireExamples, evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_INPUTS,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float32")),
                    "references": datasets.Sequence(datasets.Sequence(datasets.Value("float32"))),
                }
            ),
            reference_urls=["https://github.com/jylins/videoxum", "https://arxiv.org/abs/1903.11328"],
        )

    def _compute(
        self,
        predictions,
        references,
        protocol: str = "videoxum",
        videoxum_compat: bool = False,
        frame_features=None,
        change_points=None,
        frame_embeddings=None,
        text_embeddings=None,
        **kwargs,
    ):
        if protocol not in ("videoxum", "tvsum", "summe"):
            raise ValueError(f"protocol must be 'videoxum', 'tvsum' or 'summe', got {protocol!r}")
        per_video = []
        for i, (predicted, annotations) in enumerate(zip(predictions, references)):
            if len(predicted) == 0:
                raise ValueError(f"video {i}: no predicted frame scores")
            if protocol == "videoxum":
                scores = videoxum_scores(predicted, annotations, videoxum_compat=videoxum_compat)
                if frame_embeddings is not None and text_embeddings is not None:
                    scores["vt_clipscore"] = vt_clipscore(predicted, frame_embeddings[i], text_embeddings[i])
            else:
                if change_points is not None:
                    shots = list(change_points[i])
                elif frame_features is not None:
                    shots = kts_change_points(frame_features[i])
                else:
                    raise ValueError(f"protocol {protocol!r} needs frame_features (for KTS) or change_points")
                scores = shot_protocol_scores(predicted, annotations, shots, "max" if protocol == "summe" else "mean")
            per_video.append(scores)
        result = {key: float(np.mean([v[key] for v in per_video])) for key in per_video[0]}
        result["per_video"] = per_video
        return result
