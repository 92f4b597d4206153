# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""`v2xum evaluate`: summaries of a dataset (from a model or a predictions file), every metric that applies to each
task, beside random and uniform baselines; written as results.json, a markdown table and model-index entries.

Per example the frames are the ones the model sees (uniform samples with real timestamps); reference keyframes
(seconds or grid) go to their nearest sampled frame, as in training targets. Metrics:

- keyframes (VIDEO, BOTH): `event_keyframe_f1` when the examples list their scenes (StoryBoard: a keyframe counts
  inside an event scene, once per scene), `keyframe_f1_max`/`keyframe_f1_mean`, `kendall_tau`, `spearman_rho`
  (VideoXum protocol at 1 fps; predicted keyframes become frame scores by `keyframe_frame_scores`; annotators are
  the example's `annotations` when it has them, else its reference keyframes), `fclip` (CLIP embeddings of the
  sampled frames);
- text (TEXT, BOTH): `bleu4`, `meteor`, `rouge_l`, `cider` (VideoXum protocol);
- BOTH: `cross_fclip`, `vt_clipscore`;
- every task: `modality_accuracy`, the share of answers with the modality the task asks for.

Baselines see only what the protocol allows: each video's reference keyframe count k (VideoXum's protocol gives
summaries the reference length) and a text corpus that is not the evaluated split (the training split: `corpus`).
`random` takes k random sampled frames and as many random corpus sentences as the video has reference sentences,
never one of the evaluated video's own references; `uniform` takes k evenly spaced sampled frames and the corpus's
most frequent sentence. Without a corpus there are no text baselines (their text metrics are left out).

Reproducible: `predictions.jsonl` records per video what the model saw (`frames`: number, decode mode, source frame
indices, timestamps); re-scoring it decodes the same frames (and refuses a video whose frames changed), so it gives
the numbers of the run that wrote it.
"""

import json
import os
from collections import Counter
from dataclasses import dataclass

import numpy as np

from modeling_v2xum.model_card import weights_fingerprint
from processing import SampledFrames, V2XumVideoProcessor, VideoSummary, decode_video
from processing.summary import SUMMARY_TASKS, Keyframe, SummarySentence

from .summarize import SummarizeSettings, VideoSummarizer, load_pipeline
from .training_data import KEYFRAME_TOLERANCE, keyframe_seconds
from .validation import RowError, check_list, check_number, check_object, check_text, read_rows


KEYFRAME_METRICS = ("event_keyframe_f1", "keyframe_f1_max", "keyframe_f1_mean", "kendall_tau", "spearman_rho", "fclip")
TEXT_METRICS = ("bleu4", "meteor", "rouge_l", "cider")
BOTH_METRICS = ("cross_fclip", "vt_clipscore")


def reference_frames(example: dict, timeline: SampledFrames) -> list[int]:
    """The sampled frames nearest to the example's reference keyframes, as training targets map them."""
    seconds = [t for s in example["sentences"] for t in keyframe_seconds(s, example["duration"])]
    return sorted({timeline.nearest(t) for t in seconds})


def _summary_from(keyframe_indices: list[int], sentences: list[str], timeline: SampledFrames, task: str):
    keyframes = [Keyframe(i, timeline.frame_indices[i], timeline.to_seconds(i)) for i in sorted(set(keyframe_indices))]
    sentence_objects = [SummarySentence(text) for text in sentences]
    text = " ".join(sentences)
    return VideoSummary(task, text, text, sentence_objects, keyframes)


def baseline_summaries(
    examples, timelines, corpus: list[str] | None = None, seed: int = 0
) -> dict[str, list[VideoSummary]]:
    """The `random` and `uniform` systems (see the module docstring); `corpus` holds the sentences the text
    baselines may say (None: keyframes only)."""
    rng = np.random.default_rng(seed)
    corpus = [text for text in corpus or [] if text]
    majority = [Counter(corpus).most_common(1)[0][0]] if corpus else []
    random_runs, uniform_runs = [], []
    for example, timeline in zip(examples, timelines):
        k = max(1, len(reference_frames(example, timeline)))
        picked = sorted(rng.choice(len(timeline), size=min(k, len(timeline)), replace=False).tolist())
        spaced = sorted(set(np.linspace(0, len(timeline) - 1, k).round().astype(int).tolist()))
        own = {s["text"] for s in example["sentences"]}
        allowed = [text for text in corpus if text not in own]  # never the evaluated video's own words
        count = max(1, sum(1 for s in example["sentences"] if s["text"]))
        drawn = [allowed[i] for i in rng.choice(len(allowed), size=count)] if allowed else []
        task = example["task"]
        random_runs.append(
            _summary_from(picked if task != "text" else [], drawn if task != "video" else [], timeline, task)
        )
        uniform_runs.append(
            _summary_from(spaced if task != "text" else [], majority if task != "video" else [], timeline, task)
        )
    return {"random": random_runs, "uniform": uniform_runs}


def text_corpus(path: str | os.PathLike | None) -> list[str] | None:
    """The sentences of a training-format file (the baselines' words), or None without one."""
    if path is None or not os.path.isfile(path):
        return None
    return [
        s["text"]
        for _, row in read_rows(path)
        if isinstance(row, dict)
        for s in row.get("sentences") or []
        if isinstance(s, dict) and isinstance(s.get("text"), str)
    ]


def _right_modality(summary: VideoSummary) -> bool:
    has_keyframes, has_text = bool(summary.keyframes), bool(summary.text.strip())
    return {"video": has_keyframes, "text": has_text and not has_keyframes, "both": has_keyframes and has_text}[
        summary.task
    ]


def score_summaries(examples, summaries, timelines, frame_embeddings, embed_texts) -> dict[str, dict[str, float]]:
    """Metrics per task for one system. `frame_embeddings[i]` are CLIP embeddings of example i's sampled frames;
    `embed_texts(list[str])` gives CLIP text embeddings (None for an image-only backend: no Cross-FCLIP and
    VT-CLIPScore then)."""
    from evaluate_metrics.text_scoring import caption_scores

    results = {}
    for task in sorted({e["task"] for e in examples}):
        rows = [i for i, e in enumerate(examples) if e["task"] == task]
        metrics: dict[str, list] = {"modality_accuracy": [float(_right_modality(summaries[i])) for i in rows]}
        if task in ("video", "both"):
            for i in rows:
                scores = _keyframe_scores(examples[i], summaries[i], timelines[i], frame_embeddings[i])
                if task == "both" and embed_texts is not None:
                    scores |= _cross_modal_scores(
                        examples[i], summaries[i], timelines[i], frame_embeddings[i], embed_texts
                    )
                for name, value in scores.items():
                    metrics.setdefault(name, []).append(value)
        summary_values = {name: float(np.mean(values)) for name, values in metrics.items()}
        if task in ("text", "both") and any(summaries[i].text.strip() for i in rows):
            text = caption_scores(
                [summaries[i].text for i in rows], [[s["text"] for s in examples[i]["sentences"]] for i in rows]
            )
            summary_values.update({k: v for k, v in text.items() if k in TEXT_METRICS})
        results[task] = summary_values
    return results


def _keyframe_scores(example: dict, summary: VideoSummary, timeline: SampledFrames, embeddings) -> dict[str, float]:
    """One example's keyframe metrics: VideoXum F1/tau/rho at 1 fps, event F1 (when it has scenes), FCLIP. An
    answer without keyframes scores 0 on each (its frame scores are all equal: no ranking, no selection)."""
    from evaluate_metrics.scoring import event_keyframe_f1, fclip_score, keyframe_frame_scores, videoxum_scores

    if not summary.keyframes:
        names = ["keyframe_f1_max", "keyframe_f1_mean", "kendall_tau", "spearman_rho", "fclip"]
        return dict.fromkeys(names + (["event_keyframe_f1"] if example.get("scenes") else []), 0.0)

    sampled = np.asarray(timeline.timestamps)
    seconds = np.arange(int(np.floor(timeline.duration)) + 1, dtype=np.float64)  # 1 fps
    reference = reference_frames(example, timeline)
    if example.get("annotations"):
        annotators = np.asarray(example["annotations"]["scores"], dtype=np.float64)
        seconds = np.arange(annotators.shape[1]) / float(example["annotations"].get("fps", 1.0))
    else:
        annotators = (keyframe_frame_scores(sampled[reference], sampled, seconds) == 1.0)[None, :]
    predicted = keyframe_frame_scores([k.seconds for k in summary.keyframes], sampled, seconds)
    frame_scores = videoxum_scores(predicted, annotators)
    scores = {
        "keyframe_f1_max": frame_scores["f1_max"],
        "keyframe_f1_mean": frame_scores["f1_mean"],
        "kendall_tau": frame_scores["kendall_tau"],
        "spearman_rho": frame_scores["spearman_rho"],
    }
    if example.get("scenes"):
        events = [(s["start"], s["end"]) for s in example["scenes"] if s["kind"] == "event"]
        scores["event_keyframe_f1"] = event_keyframe_f1([k.seconds for k in summary.keyframes], events)["f1"]
    predicted_frames = embeddings[[k.index for k in summary.keyframes]]
    scores["fclip"] = fclip_score(predicted_frames, embeddings[reference])["f1"]
    return scores


def _cross_modal_scores(
    example: dict, summary: VideoSummary, timeline: SampledFrames, embeddings, embed_texts
) -> dict[str, float]:
    """One BOTH example's Cross-FCLIP and VT-CLIPScore (they need text embeddings)."""
    from evaluate_metrics.scoring import cross_fclip_score, keyframe_frame_scores, vt_clipscore

    reference = reference_frames(example, timeline)
    predicted_frames = embeddings[[k.index for k in summary.keyframes]]
    texts = [s.text for s in summary.sentences if s.text] or [""]
    references = [s["text"] for s in example["sentences"] if s["text"]]
    predicted_texts = embed_texts(texts) if summary.text.strip() else np.zeros((0, embeddings.shape[1]))
    reference_texts = embed_texts(references) if references else np.zeros((0, embeddings.shape[1]))
    cross = cross_fclip_score(predicted_frames, predicted_texts, embeddings[reference], reference_texts)
    sampled = np.asarray(timeline.timestamps)
    sampled_scores = keyframe_frame_scores([k.seconds for k in summary.keyframes], sampled, sampled)
    text_embedding = embed_texts([summary.text or " "])[0]
    return {
        "cross_fclip": cross["cross_fclip"],
        "vt_clipscore": vt_clipscore(sampled_scores, embeddings, text_embedding),
    }


def markdown_table(results: dict) -> str:
    lines = []
    for task, systems in results.items():
        names = [
            n
            for n in (*KEYFRAME_METRICS, *TEXT_METRICS, *BOTH_METRICS, "modality_accuracy")
            if any(n in s for s in systems.values())
        ]
        lines += [
            f"### Task: {task.upper()}",
            "",
            "| system | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
        ]
        for system, values in systems.items():
            cells = ["n/a" if values.get(n) is None else f"{values[n]:.4f}" for n in names]
            lines.append(f"| {system} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def model_index_results(results: dict, dataset_name: str, split: str) -> list[dict]:
    """`model-index` entries (huggingface_hub `EvalResult` fields) for the model's own numbers: one result per task
    (the task is the dataset config, which the Hub uses to tell results apart)."""
    entries = []
    for task, systems in results.items():
        for metric, value in systems.get("model", {}).items():
            if value is None:
                continue
            entries.append(
                {
                    "task_type": "video-text-to-text",
                    "task_name": f"Video summarization ({task.upper()})",
                    "dataset_type": dataset_name,
                    "dataset_name": dataset_name,
                    "dataset_config": task,
                    "dataset_split": split,
                    "metric_type": metric,
                    "metric_name": f"{metric} ({task})",
                    "metric_value": round(float(value), 4),
                }
            )
    return entries


DECODE_MODES = ("exact", "keyframes")


@dataclass
class Prediction:
    """One validated predictions row: the summary, where it came from, and what the model saw (`frames`: the
    `num_frames`, `decode_mode`, `frame_indices`, `timestamps` recorded by `v2xum evaluate`; None in older files)."""

    summary: VideoSummary
    where: str
    frames: dict | None


def validate_prediction(row, where: str) -> tuple[str, Prediction]:
    """`(video path, Prediction)` for one predictions row; a `RowError` names the row, field and value."""
    row = check_object(row, where)
    video = row.get("video")
    video = video.get("path") if isinstance(video, dict) else video
    if not isinstance(video, str) or not video:
        raise RowError(where, "video", row.get("video"), "must be the video's path")
    task = check_text(row, "task", where, choices=SUMMARY_TASKS)
    for key in ("text", "raw_text"):
        if not isinstance(row.get(key, ""), str):
            raise RowError(where, key, row.get(key), "must be a string")
    # A missing answer is not an empty one: each task's answer must be there to be scored.
    for key, tasks in (("text", ("text", "both")), ("keyframes", ("video", "both"))):
        if task in tasks and key not in row:
            raise RowError(where, key, None, f"a '{task}' prediction must give its '{key}'")
    for n, sentence in enumerate(check_list(row, "sentences", where)):
        if not isinstance(sentence, dict) or not isinstance(sentence.get("text"), str):
            raise RowError(where, f"sentences[{n}]", sentence, "must be an object with a 'text' string")
        for k, index in enumerate(check_list(sentence, "keyframes", where, field=f"sentences[{n}].keyframes")):
            check_number(index, where, f"sentences[{n}].keyframes[{k}]", minimum=0, integer=True)
    for n, keyframe in enumerate(check_list(row, "keyframes", where)):
        if not isinstance(keyframe, dict):
            raise RowError(where, f"keyframes[{n}]", keyframe, "must be an object (index, frame_index, seconds)")
        check_number(keyframe.get("index"), where, f"keyframes[{n}].index", minimum=0, integer=True)
        check_number(keyframe.get("frame_index", 0), where, f"keyframes[{n}].frame_index", minimum=0, integer=True)
        check_number(keyframe.get("seconds"), where, f"keyframes[{n}].seconds", minimum=0)
    indices = [keyframe["index"] for keyframe in row.get("keyframes") or []]
    if indices != sorted(set(indices)):
        raise RowError(where, "keyframes", indices[:10], "keyframe indices must be increasing, each once")
    for n, sentence in enumerate(row.get("sentences") or []):
        unknown = sorted(set(sentence.get("keyframes") or []) - set(indices))
        if unknown:
            raise RowError(where, f"sentences[{n}].keyframes", unknown, "names keyframes not in 'keyframes'")
    frames = row.get("frames")
    if frames is not None:
        frames = check_object(frames, f"{where} frames")
        check_number(frames.get("num_frames"), where, "frames.num_frames", minimum=1, integer=True)
        check_text(frames, "decode_mode", where, choices=DECODE_MODES, field="frames.decode_mode")
        for k, index in enumerate(
            check_list(frames, "frame_indices", where, required=True, field="frames.frame_indices")
        ):
            check_number(index, where, f"frames.frame_indices[{k}]", minimum=0, integer=True)
        if frames.get("shortest_edge") is not None:
            check_number(frames["shortest_edge"], where, "frames.shortest_edge", minimum=1, integer=True)
    summary = VideoSummary.from_dict({"text": "", "raw_text": "", "sentences": [], "keyframes": [], **row})
    return video, Prediction(summary, where, frames)


def load_predictions(path: str | os.PathLike, examples: list[dict]) -> list[Prediction]:
    """A predictions JSONL (`v2xum evaluate` writes one; any `VideoSummary` dicts with a `video` path do), validated
    row by row before anything is decoded or written, in example order. Every example needs one; a second row for
    the same video and task is refused unless it is identical."""
    found: dict[tuple[str, str], tuple[dict, Prediction]] = {}
    for where, row in read_rows(path):
        video, prediction = validate_prediction(row, where)
        key = (os.path.abspath(video), prediction.summary.task)
        if key in found and found[key][0] != row:
            raise RowError(
                where,
                "video",
                video,
                f"a second, different prediction for task '{key[1]}' (the first is at {found[key][1].where})",
            )
        found.setdefault(key, (row, prediction))
    missing = [e["video"] for e in examples if (os.path.abspath(e["video"]), e["task"]) not in found]
    if missing:
        raise ValueError(f"{path} has no prediction for {len(missing)} example(s), e.g. {missing[:3]}")
    return [found[(os.path.abspath(e["video"]), e["task"])][1] for e in examples]


def check_prediction_frames(prediction: Prediction, timeline: SampledFrames) -> None:
    """A prediction against the frames decoded for re-scoring: the same frames the model saw (when recorded), its
    keyframes among them and inside the video."""
    where, summary = prediction.where, prediction.summary
    if prediction.frames is not None and list(prediction.frames["frame_indices"]) != list(timeline.frame_indices):
        raise RowError(
            where,
            "frames.frame_indices",
            prediction.frames["frame_indices"][:8],
            f"the video now samples other frames ({list(timeline.frame_indices)[:8]}...): it changed "
            "since the prediction was made",
        )
    half_frame = (
        timeline.duration / max(len(timeline), 1) / 2
        if len(timeline) < 2
        else float(np.median(np.diff(timeline.timestamps)) / 2)
    )
    for n, keyframe in enumerate(summary.keyframes):
        if keyframe.index >= len(timeline):
            raise RowError(where, f"keyframes[{n}].index", keyframe.index, f"only {len(timeline)} frames were sampled")
        if keyframe.seconds > timeline.duration + KEYFRAME_TOLERANCE:
            raise RowError(
                where,
                f"keyframes[{n}].seconds",
                keyframe.seconds,
                f"past the end of the video ({timeline.duration:.2f} s)",
            )
        sampled_at = timeline.to_seconds(keyframe.index)
        if abs(keyframe.seconds - sampled_at) > half_frame + 1e-6:
            raise RowError(
                where,
                f"keyframes[{n}].seconds",
                keyframe.seconds,
                f"sampled frame {keyframe.index} is at {sampled_at:.3f} s",
            )
    for n, sentence in enumerate(summary.sentences):
        for index in sentence.keyframes:
            if index >= len(timeline):
                raise RowError(where, f"sentences[{n}].keyframes", index, f"only {len(timeline)} frames were sampled")


def run_evaluation(
    examples: list[dict],
    out_dir: str | os.PathLike,
    model: str | None = None,
    predictions_file: str | None = None,
    clip_embedder=None,
    num_frames: int | None = None,
    batch_size: int = 1,
    max_new_tokens: int = 256,
    baselines: bool = False,
    corpus: list[str] | None = None,
    dataset_name: str = "custom",
    split: str = "test",
    device: str = "cpu",
    dtype: str = "auto",
    seed: int = 0,
    extra: dict | None = None,
) -> dict:
    """Summaries (from `model` or `predictions_file`), decoded timelines and CLIP frame embeddings, scores per task
    and system; writes results.json (with `extra`), results.md, model_index.json and predictions.jsonl into
    `out_dir`. A predictions file is validated entirely before anything is written; its recorded frames are the ones
    scored. Each video is decoded once: the frames the model sees (the summarization engine's) are the frames
    scored."""
    if (model is None) == (predictions_file is None):
        raise ValueError("Give exactly one of a model or a predictions file")
    predictions = load_predictions(predictions_file, examples) if predictions_file else None
    summarizer = None
    if model:
        settings = SummarizeSettings(num_frames=num_frames, batch_size=batch_size, max_new_tokens=max_new_tokens)
        summarizer = VideoSummarizer(load_pipeline(model, device=device, dtype=dtype), settings)
    sampling = [_sampling(p, summarizer, num_frames) for p in predictions or [None] * len(examples)]
    decoded = [
        summarizer.decode(e["video"])
        if summarizer
        else decode_video(e["video"], num_frames=n, mode=m, shortest_edge=edge)
        for e, (n, m, edge) in zip(examples, sampling)
    ]
    timelines = [SampledFrames.from_metadata(d) for d in decoded]
    if predictions is not None:
        for prediction, timeline in zip(predictions, timelines):
            check_prediction_frames(prediction, timeline)
        summaries = [p.summary for p in predictions]
    else:
        summaries = _generate(summarizer, examples, decoded)
    os.makedirs(out_dir, exist_ok=True)
    _write_predictions(os.path.join(out_dir, "predictions.jsonl"), examples, summaries, timelines, sampling)

    frame_embeddings = [clip_embedder.embed_images(list(d.frames)) for d in decoded]
    systems = {"model": summaries}
    if baselines:
        systems.update(baseline_summaries(examples, timelines, corpus, seed))
    embed_texts = _cached_text_embedder(clip_embedder) if clip_embedder.has_text else None
    per_system = {
        name: score_summaries(examples, runs, timelines, frame_embeddings, embed_texts)
        for name, runs in systems.items()
    }
    results = {task: {name: per_system[name][task] for name in systems} for task in per_system["model"]}
    record = {
        "model": model or predictions_file,
        # Which weights these results belong to (`push model --results` adds them only to that model's card).
        "model_fingerprint": weights_fingerprint(model) if model and os.path.isdir(model) else None,
        "dataset": dataset_name,
        "split": split,
        "num_examples": len(examples),
        "num_frames": sorted({n for n, _, _ in sampling}),
        "clip_model": clip_embedder.name,
        "baseline_corpus_sentences": None if corpus is None else len(corpus),
        **(extra or {}),
        "results": results,
    }
    _write_results(out_dir, record, dataset_name, split)
    return record


def _sampling(prediction, summarizer, num_frames: int | None) -> tuple[int, str, int | None]:
    """How a video is decoded: as a predictions row recorded it, else as the model sees it (its frame count, decode
    mode and input size), else (no model, nothing recorded) `num_frames` exact frames at full size."""
    if prediction is not None and prediction.frames:
        frames = prediction.frames
        return frames["num_frames"], frames["decode_mode"], frames.get("shortest_edge")
    if summarizer is not None:
        return summarizer.settings.num_frames, summarizer.settings.decode_mode, summarizer.shortest_edge
    return num_frames or V2XumVideoProcessor.num_frames, "exact", None


def _generate(summarizer, examples: list[dict], decoded: list) -> list[VideoSummary]:
    """The model's summaries of the decoded videos, one engine run per task (batches share a prompt), back in
    example order."""
    summaries = []
    for task in ("video", "text", "both"):
        rows = [i for i, e in enumerate(examples) if e["task"] == task]
        if rows:
            summaries += zip(rows, summarizer.summarize([decoded[i] for i in rows], task=task))
    return [summary for _, summary in sorted(summaries, key=lambda pair: pair[0])]


def _write_predictions(path: str, examples: list[dict], summaries: list[VideoSummary], timelines, sampling) -> None:
    """One row per example: the summary, the video, and what the model saw (for re-scoring)."""
    with open(path, "w", encoding="utf-8") as f:
        for example, summary, timeline, (count, mode, edge) in zip(examples, summaries, timelines, sampling):
            frames = {
                "num_frames": count,
                "decode_mode": mode,
                "shortest_edge": edge,
                "frame_indices": list(timeline.frame_indices),
                "timestamps": list(timeline.timestamps),
            }
            f.write(
                json.dumps({**summary.to_dict(), "video": example["video"], "frames": frames}, ensure_ascii=False)
                + "\n"
            )


def _cached_text_embedder(clip_embedder):
    """`embed_texts` that embeds each list of sentences once: references are scored against every system."""
    cache: dict[tuple[str, ...], np.ndarray] = {}

    def embed_texts(texts: list[str]) -> np.ndarray:
        key = tuple(texts)
        if key not in cache:
            cache[key] = clip_embedder.embed_texts(list(texts))
        return cache[key]

    return embed_texts


def _write_results(out_dir, record: dict, dataset_name: str, split: str) -> None:
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
    with open(os.path.join(out_dir, "results.md"), "w", encoding="utf-8") as f:
        f.write(markdown_table(record["results"]))
    with open(os.path.join(out_dir, "model_index.json"), "w", encoding="utf-8") as f:
        json.dump(model_index_results(record["results"], dataset_name, split), f, indent=2)


__all__ = [
    "run_evaluation",
    "score_summaries",
    "baseline_summaries",
    "text_corpus",
    "markdown_table",
    "model_index_results",
    "load_predictions",
    "validate_prediction",
    "Prediction",
]
