# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Text summary metrics as in VideoXum: BLEU-4, METEOR, ROUGE-L, CIDEr-D (pycocoevalcap), offline."""

import datasets
import evaluate

from .scoring import RequireExamples
from .text_scoring import caption_scores


_DESCRIPTION = """BLEU-4, METEOR, ROUGE-L and CIDEr-D of text summaries, the VideoXum protocol: one reference per
video (its sentences joined), both sides cleaned like VideoXum's pre_caption (lower case, .!"()*#:;~ replaced by
spaces), PTB tokenization and METEOR 1.5 through pycocoevalcap when Java is installed. Without Java, texts are
split on whitespace and punctuation and METEOR is None (reported in `tokenizer`). Corpus-level scores, 0-1
(CIDEr-D 0-10)."""

_INPUTS = """
Args:
    predictions: per video, the generated summary text.
    references: per video, the reference summary: a string or its list of sentences.
    use_java: force (True) or forbid (False) the Java tokenizer and METEOR; default: use Java when present.
Returns:
    bleu4, meteor (None without Java), rouge_l, cider, tokenizer ("ptb" or "simple").
"""

_CITATION = """@inproceedings{chen2015microsoft,
  title={Microsoft COCO Captions: Data Collection and Evaluation Server},
  author={Chen, Xinlei and Fang, Hao and Lin, Tsung-Yi and others}, year={2015}, journal={arXiv:1504.00325}}"""


class VideoSummaryText(RequireExamples, evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_INPUTS,
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Value("string"),
                        "references": datasets.Sequence(datasets.Value("string")),
                    }
                ),
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            ],
            reference_urls=["https://github.com/tylin/coco-caption", "https://github.com/jylins/videoxum"],
        )

    def _compute(self, predictions, references, use_java: bool | None = None, **kwargs):
        return caption_scores(list(predictions), list(references), use_java=use_java)
