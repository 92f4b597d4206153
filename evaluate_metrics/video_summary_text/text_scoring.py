# A copy of evaluate_metrics/text_scoring.py, so that this folder runs on its own: edit that file, then run
# `python -m evaluate_metrics` to refresh the copies.
# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Caption metrics as the VideoXum protocol computes them (pycocoevalcap), offline.

One reference per video: its summary sentences joined into one text; both sides cleaned like VideoXum's
`pre_caption` (lower case; each of `.!"()*#:;~` replaced by a space; whitespace collapsed). With Java on the
machine, pycocoevalcap's PTB tokenizer and METEOR 1.5 run as in coco-caption; without it, texts are split on
whitespace and punctuation (letters of every script kept), and METEOR is reported as None. BLEU-4, ROUGE-L and
CIDEr-D are pycocoevalcap's own (pure Python) in both cases.
"""

import contextlib
import io
import re
import shutil


_CLEAN = re.compile(r"[.!\"()*#:;~]")
# Without Java: words of any script (letters and digits, `'s` kept on its word); Chinese, Japanese and Korean
# characters one by one, as they are written without spaces.
_SIMPLE_TOKENS = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]|[^\W_]+(?:'[^\W_]+)?")


def pre_caption(text: str) -> str:
    """VideoXum's caption cleaning."""
    return re.sub(r"\s+", " ", _CLEAN.sub(" ", text.lower())).strip()


def java_available() -> bool:
    return shutil.which("java") is not None


def _tokenize(texts: dict[str, str], use_java: bool) -> dict[str, list[str]]:
    if use_java:
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per call
            return PTBTokenizer().tokenize({key: [{"caption": text}] for key, text in texts.items()})
    return {key: [" ".join(_SIMPLE_TOKENS.findall(text.lower()))] for key, text in texts.items()}


def caption_scores(predictions: list[str], references: list[str | list[str]], use_java: bool | None = None) -> dict:
    """BLEU-4, METEOR, ROUGE-L and CIDEr-D of `predictions` (one text per video) against `references` (one text, or
    the list of summary sentences, per video). Returns corpus scores, as coco-caption does."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not predictions:
        raise ValueError("No predictions to score")
    use_java = java_available() if use_java is None else use_java
    joined = [" ".join(r) if isinstance(r, (list, tuple)) else r for r in references]
    if any(not pre_caption(r) for r in joined):
        raise ValueError("A reference summary is empty; every video needs reference text")
    keys = [str(i) for i in range(len(predictions))]
    results = _tokenize({k: pre_caption(p) for k, p in zip(keys, predictions)}, use_java)
    golds = _tokenize({k: pre_caption(r) for k, r in zip(keys, joined)}, use_java)
    # pycocoevalcap's scorers assert non-empty hypotheses; an empty answer scores as one unknown token.
    results = {k: [v[0] if v[0].strip() else "<empty>"] for k, v in results.items()}
    bleu, _ = Bleu(4).compute_score(golds, results, verbose=0)
    scores = {
        "bleu4": float(bleu[3]),
        "rouge_l": float(Rouge().compute_score(golds, results)[0]),
        "cider": float(Cider().compute_score(golds, results)[0]),
        "meteor": None,
        "tokenizer": "ptb" if use_java else "simple",
    }
    if use_java:
        scores["meteor"] = float(_meteor().compute_score(golds, results)[0])
    return scores


_METEOR = None


def _meteor():
    """One METEOR 1.5 JVM per process: starting it takes seconds."""
    global _METEOR
    if _METEOR is None:
        from pycocoevalcap.meteor.meteor import Meteor

        _METEOR = Meteor()
    return _METEOR


__all__ = ["pre_caption", "caption_scores", "java_available"]
