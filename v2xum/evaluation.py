# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""`v2xum evaluate`: summaries of a dataset (from a model or a predictions file), every metric that applies to each
task, beside random and uniform baselines; written as results.json, a markdown table and model-index entries.

Per example the frames are the ones the model sees (uniform samples with real timestamps); reference keyframes
(seconds or grid) go to their nearest sampled frame, as in training targets. Metrics:

- keyframes (VIDEO, BOTH): `event_keyframe_f1` when the examples list their scenes (StoryBoard: a keyframe counts
  inside an event scene, once per scene), `keyframe_f1_max`/`keyframe_f1_mean`, `kendall_tau`, `spearman_rho` (VideoXum protocol at
  1 fps; predicted keyframes become frame scores by `keyframe_frame_scores`; annotators are the example's
  `annotations` when it has them, else its reference keyframes), `fclip` (CLIP embeddings of the sampled frames);
- text (TEXT, BOTH): `bleu4`, `meteor`, `rouge_l`, `cider` (VideoXum protocol);
- BOTH: `cross_fclip`, `vt_clipscore`;
- every task: `modality_accuracy`, the share of answers with the modality the task asks for.

Baselines, given the reference keyframe count k of each video: `random` takes k random sampled frames and the
reference text of another video; `uniform` takes k evenly spaced sampled frames and the set's most frequent
reference sentence.
"""

import json
import os
from collections import Counter

import numpy as np

from processing import FrameTimeline, V2XumVideoProcessor, VideoSummary, decode_video
from processing.summary import Keyframe, SummarySentence

from .training_data import keyframe_seconds


KEYFRAME_METRICS = ("event_keyframe_f1", "keyframe_f1_max", "keyframe_f1_mean", "kendall_tau", "spearman_rho", "fclip")
TEXT_METRICS = ("bleu4", "meteor", "rouge_l", "cider")
BOTH_METRICS = ("cross_fclip", "vt_clipscore")


def reference_frames(example: dict, timeline: FrameTimeline) -> list[int]:
    """The sampled frames nearest to the example's reference keyframes, as training targets map them."""
    seconds = [t for s in example["sentences"] for t in keyframe_seconds(s, example["duration"])]
    return sorted({timeline.nearest(t) for t in seconds})


def _summary_from(keyframe_indices: list[int], sentences: list[str], timeline: FrameTimeline, task: str):
    keyframes = [Keyframe(i, timeline.frame_indices[i], timeline.to_seconds(i)) for i in sorted(set(keyframe_indices))]
    sentence_objects = [SummarySentence(text) for text in sentences]
    text = " ".join(sentences)
    return VideoSummary(task, text, text, sentence_objects, keyframes)


def baseline_summaries(examples, timelines, seed: int = 0) -> dict[str, list[VideoSummary]]:
    rng = np.random.default_rng(seed)
    counts = Counter(s["text"] for e in examples for s in e["sentences"] if s["text"])
    majority = [counts.most_common(1)[0][0]] if counts else []
    random_runs, uniform_runs = [], []
    for n, (example, timeline) in enumerate(zip(examples, timelines)):
        k = max(1, len(reference_frames(example, timeline)))
        picked = sorted(rng.choice(len(timeline), size=min(k, len(timeline)), replace=False).tolist())
        spaced = sorted(set(np.linspace(0, len(timeline) - 1, k).round().astype(int).tolist()))
        other = examples[int(rng.integers(len(examples)))] if len(examples) > 1 else example
        if other is example and len(examples) > 1:
            other = examples[(n + 1) % len(examples)]
        other_text = [s["text"] for s in other["sentences"] if s["text"]]
        task = example["task"]
        random_runs.append(_summary_from(picked if task != "text" else [], other_text if task != "video" else [],
                                         timeline, task))
        uniform_runs.append(_summary_from(spaced if task != "text" else [], majority if task != "video" else [],
                                          timeline, task))
    return {"random": random_runs, "uniform": uniform_runs}


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
                    scores |= _cross_modal_scores(examples[i], summaries[i], timelines[i], frame_embeddings[i],
                                                  embed_texts)
                for name, value in scores.items():
                    metrics.setdefault(name, []).append(value)
        summary_values = {name: float(np.mean(values)) for name, values in metrics.items()}
        if task in ("text", "both"):
            text = caption_scores(
                [summaries[i].text for i in rows], [[s["text"] for s in examples[i]["sentences"]] for i in rows]
            )
            summary_values.update({k: v for k, v in text.items() if k in TEXT_METRICS})
        results[task] = summary_values
    return results


def _keyframe_scores(example: dict, summary: VideoSummary, timeline: FrameTimeline, embeddings) -> dict[str, float]:
    """One example's keyframe metrics: VideoXum F1/tau/rho at 1 fps, event F1 (when it has scenes), FCLIP."""
    from evaluate_metrics.scoring import event_keyframe_f1, fclip_score, keyframe_frame_scores, videoxum_scores

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
    scores = {"keyframe_f1_max": frame_scores["f1_max"], "keyframe_f1_mean": frame_scores["f1_mean"],
              "kendall_tau": frame_scores["kendall_tau"], "spearman_rho": frame_scores["spearman_rho"]}
    if example.get("scenes"):
        events = [(s["start"], s["end"]) for s in example["scenes"] if s["kind"] == "event"]
        scores["event_keyframe_f1"] = event_keyframe_f1([k.seconds for k in summary.keyframes], events)["f1"]
    predicted_frames = embeddings[[k.index for k in summary.keyframes]]
    scores["fclip"] = fclip_score(predicted_frames, embeddings[reference])["f1"]
    return scores


def _cross_modal_scores(example: dict, summary: VideoSummary, timeline: FrameTimeline, embeddings,
                        embed_texts) -> dict[str, float]:
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
    return {"cross_fclip": cross["cross_fclip"], "vt_clipscore": vt_clipscore(sampled_scores, embeddings, text_embedding)}


def markdown_table(results: dict) -> str:
    lines = []
    for task, systems in results.items():
        names = [n for n in (*KEYFRAME_METRICS, *TEXT_METRICS, *BOTH_METRICS, "modality_accuracy")
                 if any(n in s for s in systems.values())]
        lines += [f"### Task: {task.upper()}", "", "| system | " + " | ".join(names) + " |",
                  "|---|" + "---|" * len(names)]
        for system, values in systems.items():
            cells = ["n/a" if values.get(n) is None else f"{values[n]:.4f}" for n in names]
            lines.append(f"| {system} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def model_index_results(results: dict, dataset_name: str, split: str) -> list[dict]:
    """`model-index` entries (huggingface_hub `EvalResult` fields) for the model's own numbers."""
    entries = []
    for task, systems in results.items():
        for metric, value in systems.get("model", {}).items():
            if value is None:
                continue
            entries.append({
                "task_type": "video-text-to-text",
                "task_name": f"Video summarization ({task.upper()})",
                "dataset_type": dataset_name,
                "dataset_name": dataset_name,
                "dataset_split": split,
                "metric_type": metric,
                "metric_name": f"{metric} ({task})",
                "metric_value": round(float(value), 4),
            })
    return entries


def load_predictions(path: str | os.PathLike, examples: list[dict]) -> list[VideoSummary]:
    """A predictions JSONL: one `VideoSummary` dict (as `v2xum summarize` and the pipeline write) per line, with a
    `video` path, in any order; every example needs one."""
    by_video = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            if line.strip():
                row = json.loads(line)
                video = row.get("video")
                video = video.get("path") if isinstance(video, dict) else video
                if not video:
                    raise ValueError(f"{path} line {n + 1}: no 'video' path")
                by_video[(os.path.abspath(video), row["task"])] = VideoSummary.from_dict(row)
    missing = [e["video"] for e in examples if (os.path.abspath(e["video"]), e["task"]) not in by_video]
    if missing:
        raise ValueError(f"{path} has no prediction for {len(missing)} example(s), e.g. {missing[:3]}")
    return [by_video[(os.path.abspath(e["video"]), e["task"])] for e in examples]


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
    dataset_name: str = "custom",
    split: str = "test",
    device: str = "cpu",
    dtype=None,
    seed: int = 0,
) -> dict:
    """Summaries (from `model` or `predictions_file`), decoded timelines and CLIP frame embeddings, scores per task
    and system; writes results.json, results.md, model_index.json and predictions.jsonl into `out_dir`."""
    from transformers import pipeline

    if (model is None) == (predictions_file is None):
        raise ValueError("Give exactly one of a model or a predictions file")
    os.makedirs(out_dir, exist_ok=True)
    pipe = pipeline("video-summarization", model=model, device=device, dtype=dtype) if model else None
    # Without a model, frames are sampled by the video processor's default.
    num_frames = num_frames or (pipe.processor.video_processor if pipe else V2XumVideoProcessor).num_frames
    decoded = [decode_video(e["video"], num_frames=num_frames) for e in examples]
    timelines = [FrameTimeline.from_metadata(d) for d in decoded]
    if pipe is not None:
        summaries = _generate(pipe, examples, num_frames, batch_size, max_new_tokens)
    else:
        summaries = load_predictions(predictions_file, examples)
    _write_predictions(os.path.join(out_dir, "predictions.jsonl"), examples, summaries)

    frame_embeddings = [clip_embedder.embed_images(list(d.frames)) for d in decoded]
    systems = {"model": summaries}
    if baselines:
        systems.update(baseline_summaries(examples, timelines, seed))
    embed_texts = _cached_text_embedder(clip_embedder) if clip_embedder.has_text else None
    per_system = {
        name: score_summaries(examples, runs, timelines, frame_embeddings, embed_texts)
        for name, runs in systems.items()
    }
    results = {task: {name: per_system[name][task] for name in systems} for task in per_system["model"]}
    record = {
        "model": model or predictions_file,
        "dataset": dataset_name,
        "split": split,
        "num_examples": len(examples),
        "num_frames": num_frames,
        "clip_model": clip_embedder.name,
        "results": results,
    }
    _write_results(out_dir, record, dataset_name, split)
    return record


def _generate(pipe, examples, num_frames: int, batch_size: int, max_new_tokens: int) -> list[VideoSummary]:
    """The model's summaries, one pipeline run per task (batches share a prompt), back in example order. The
    pipeline gets the files, as a user's call would: decoded and sampled the way the model is used."""
    summaries = []
    for task in ("video", "text", "both"):
        rows = [i for i, e in enumerate(examples) if e["task"] == task]
        if rows:
            outputs = pipe([examples[i]["video"] for i in rows], task=task, num_frames=num_frames,
                           batch_size=batch_size, max_new_tokens=max_new_tokens)
            summaries += list(zip(rows, outputs))
    return [VideoSummary.from_dict(s) for _, s in sorted(summaries, key=lambda pair: pair[0])]


def _write_predictions(path: str, examples: list[dict], summaries: list[VideoSummary]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for example, summary in zip(examples, summaries):
            f.write(json.dumps({**summary.to_dict(), "video": example["video"]}, ensure_ascii=False) + "\n")


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


__all__ = ["run_evaluation", "score_summaries", "baseline_summaries", "markdown_table", "model_index_results"]
