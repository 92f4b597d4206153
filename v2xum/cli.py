# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""The `v2xum` command: argparse only. Each command registers its arguments and a handler that calls the package.

One rule for errors: a handler's `ValueError` or `OSError` (a bad argument, a missing or occupied file, a model that
does not load) is printed as `error: ...` and exits 2; a handler returns 1 when some of its inputs failed and 0 when
all went well. Anything else is a bug and keeps its traceback.
"""

import argparse
import json
import os
import pickle
import sys
import time
from functools import partial
from pathlib import Path

import psutil
from huggingface_hub.errors import EntryNotFoundError
from huggingface_hub.errors import HTTPError as HubHTTPError
from safetensors import SafetensorError

from . import __version__
from .limits import LOCAL_LIMITS


DTYPE_CHOICES = ["auto", "bf16", "fp16", "fp32"]
# What a user's files, arguments or network cause (a bad value, a missing or unreadable file, a pickle refused for
# holding code, a Hub answer): one `error:` line, exit 2. Anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, OSError, pickle.UnpicklingError, EntryNotFoundError, HubHTTPError, SafetensorError)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value}")
    return value


def _overwrite_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="write into an existing non-empty folder")


# -- init-tiny ------------------------------------------------------------------------------------------------------


def _init_tiny(args: argparse.Namespace) -> int:
    from modeling_v2xum.model_card import write_folder_card

    from .outputs import check_output_dir
    from .tiny_models import write_tiny_checkpoint

    out = check_output_dir(args.out_dir, args.overwrite)
    start = time.perf_counter()
    write_tiny_checkpoint(
        out,
        vision_feature_mode=args.feature_mode,
        projector_type=args.projector,
        num_frames=args.num_frames,
        seed=args.seed,
        head_dim=args.head_dim,
    )
    write_folder_card(
        out, "Random weights from `v2xum init-tiny`: the real layout for tests and CI; it says random things."
    )
    print(f"wrote a tiny random-weight V2Xum checkpoint to {out} in {time.perf_counter() - start:.1f} s")
    return 0


def _add_init_tiny(commands) -> None:
    parser = commands.add_parser("init-tiny", help="write a tiny random-weight checkpoint (tests, CI, trying things)")
    parser.add_argument("out_dir")
    parser.add_argument("--feature-mode", choices=["image_embeds", "patch_pooled"], default="image_embeds")
    parser.add_argument("--projector", choices=["linear", "mlp2x_gelu"], default="linear")
    parser.add_argument("--num-frames", type=int, default=8, help="frames the saved video processor samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--head-dim",
        type=_positive_int,
        help="the LM's attention head size (default 8; vLLM's CPU kernels need >= 32)",
    )
    _overwrite_flag(parser)
    parser.set_defaults(handler=_init_tiny)


# -- summarize ------------------------------------------------------------------------------------------------------


# What only the local runner does: refused by --engine ray (never silently dropped).
LOCAL_ONLY = {"stream": "--stream", "prefetch": "--prefetch", "retry_failed": "--retry-failed"}


def _summarize(args: argparse.Namespace) -> int:
    started = args.started  # outputs completed after this by a concurrent run are not this run's to redo
    from .collection import collect_jobs
    from .summarize import ExportOptions, SummarizeSettings

    if not args.videos and not args.manifest:
        raise ValueError("give videos, folders of videos, or --manifest")
    if args.highlights and args.task == "text":
        raise ValueError("--highlights needs keyframes, and a TEXT summary has none: use --task both or video")
    if args.engine == "ray":
        refused = [flag for name, flag in LOCAL_ONLY.items() if getattr(args, name) not in (None, False)]
        if refused:
            raise ValueError(
                f"{', '.join(refused)}: not for --engine ray (Ray pipelines decoding itself, and always resumes)"
            )
    jobs = collect_jobs(args.videos, args.manifest, args.glob)
    settings = SummarizeSettings(
        task=args.task,
        num_frames=args.num_frames,
        fps=args.fps,
        query=args.query,
        max_keyframes=args.max_keyframes,
        decode_mode=args.decode_mode,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        window_seconds=args.window_seconds,
        prefetch=2 if args.prefetch is None else args.prefetch,
        stream=args.stream,
        decode_threads=args.decode_threads,
    )
    exports = ExportOptions(args.highlights, args.highlight_before, args.highlight_after)
    quantization = "4bit" if args.load_in_4bit else "8bit" if args.load_in_8bit else None
    limits = LOCAL_LIMITS.with_overrides(
        max_video_minutes=args.max_minutes, max_windows=args.max_windows, max_frames=args.max_frames
    )
    run = _summarize_on_ray if args.engine == "ray" else _summarize_here
    report = run(args, jobs, settings, exports, quantization, started, limits)
    if args.json:
        print(json.dumps(report.records, indent=2, ensure_ascii=False))
    for label, reason in report.failures.items():  # a manifest row's own error names its row already
        named = reason.startswith(label.split(" (", 1)[0])
        print(f"error: {reason}" if named else f"error: {label}: {reason}", file=sys.stderr)
    if report.skipped:
        print(
            f"{len(report.skipped)} of {len(jobs)} videos skipped (done already, or another run has them)",
            file=sys.stderr,
        )
    if report.failures:
        print(f"{len(report.failures)} of {len(jobs)} videos failed", file=sys.stderr)
    return 1 if report.failures else 0


def _summarize_here(args, jobs, settings, exports, quantization, started, limits):
    """This process (its share, under `accelerate launch` or torchrun)."""
    from .summarize import load_pipeline, summarize_videos, this_process_share

    jobs, device = this_process_share(jobs, args.device)
    pipe = load_pipeline(args.model, device=device, dtype=args.dtype, quantization=quantization)
    run = {"device": str(pipe.device), "dtype": str(pipe.dtype).removeprefix("torch."), "quantization": quantization}
    return summarize_videos(
        pipe,
        jobs,
        args.out,
        settings,
        exports,
        overwrite=args.overwrite,
        extra={"model": args.model, "settings": run},
        resume=args.resume,
        retry_failed=args.retry_failed,
        started=started,
        limits=limits,
    )


def _summarize_on_ray(args, jobs, settings, exports, quantization, started, limits):
    import ray

    from .ray_summarize import summarize_dataset

    ray.init(address=args.ray_address, ignore_reinit_error=True)
    rows = [
        {"video": job.video, "id": job.name, "task": job.task, "query": job.query, "source": job.source}
        for job in jobs
        if not job.error
    ]
    report = summarize_dataset(
        ray.data.from_items(rows),
        args.model,
        args.out,
        settings,
        exports,
        concurrency=args.actors,
        num_gpus=args.gpus_per_actor,
        device=args.device,
        dtype=args.dtype,
        quantization=quantization,
        overwrite=args.overwrite,
        limits=limits,
    )
    report.failures |= {job.label: job.error for job in jobs if job.error}
    return report


def _add_summarize(commands) -> None:
    parser = commands.add_parser(
        "summarize",
        help="summarize video files into JSON, subtitles, a contact sheet, a timeline and a highlight reel",
        description="For each video writes OUT/<name>/: summary.json, summary.srt, summary.vtt, timeline.png, "
        "contact_sheet.png (when there are keyframes) and, with --highlights, highlights.mp4; <name> is the video's "
        "path relative to the inputs' common folder, without the extension (or a manifest row's id). Each folder "
        "appears complete or not at all; OUT/index.jsonl records every video; concurrent runs share the work.",
    )
    parser.add_argument("videos", nargs="*", metavar="VIDEO", help="video files, URLs or folders of videos")
    parser.add_argument("--manifest", help="JSONL or CSV with a 'video' column (optional: id, task, query)")
    parser.add_argument("--glob", default="**/*", help="which files of a folder to take (default: all videos in it)")
    parser.add_argument(
        "--resume", action="store_true", help="skip videos whose output is complete with the same model and settings"
    )
    parser.add_argument("--retry-failed", action="store_true", help="with --resume: retry videos that failed")
    parser.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="ray: a Ray Data pipeline (CPU decoding stage, model actors; always resumes); needs v2xum[ray]",
    )
    parser.add_argument("--ray-address", help="Ray cluster to join (default: a local one, or RAY_ADDRESS)")
    parser.add_argument("--actors", type=_positive_int, default=1, help="with --engine ray: model actors")
    parser.add_argument("--gpus-per-actor", type=float, default=0.0, help="with --engine ray: GPUs each actor holds")
    parser.add_argument("--model", required=True, help="a V2Xum checkpoint: local folder or Hub id")
    parser.add_argument("--out", required=True, help="output folder (one sub-folder per video)")
    parser.add_argument("--task", choices=["video", "text", "both"], default="both")
    parser.add_argument("--num-frames", type=_positive_int, help="frames to sample (default: the processor's)")
    parser.add_argument(
        "--fps", type=_positive_float, help="sample one frame per 1/FPS seconds (at most --num-frames)"
    )
    parser.add_argument("--query", help="focus the summary on this topic")
    parser.add_argument("--max-keyframes", type=_positive_int)
    parser.add_argument("--max-new-tokens", type=_positive_int, default=256)
    parser.add_argument(
        "--decode-mode",
        choices=["exact", "keyframes"],
        default="exact",
        help="'keyframes' decodes the nearest keyframes: much faster, approximate positions",
    )
    parser.add_argument("--batch-size", type=_positive_int, default=1, help="videos (or windows) per batch")
    parser.add_argument(
        "--decode-threads",
        type=_positive_int,
        help="threads per video decode (default: the cores this process may use; with --engine ray, 1 per task)",
    )
    parser.add_argument(
        "--stream",
        action="store_true",
        help="print each answer as it is generated, keyframes with their times (batch size 1)",
    )
    parser.add_argument(
        "--prefetch",
        type=int,
        help="batches decoded ahead of generation, in a thread (default 2; 0: decode and generate in turn)",
    )
    parser.add_argument(
        "--window-seconds",
        type=_positive_float,
        help="long videos: summarize consecutive windows of this length, merged into one summary",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    parser.add_argument(
        "--dtype", choices=DTYPE_CHOICES, default="auto", help="auto: bf16 on GPUs that support it, fp32 on CPU"
    )
    quantize = parser.add_mutually_exclusive_group()
    quantize.add_argument("--load-in-4bit", action="store_true", help="4-bit language model (needs bitsandbytes)")
    quantize.add_argument("--load-in-8bit", action="store_true", help="8-bit language model (needs bitsandbytes)")
    parser.add_argument("--highlights", action="store_true", help="also cut highlights.mp4 around the keyframes")
    parser.add_argument("--highlight-before", type=float, default=1.0, help="seconds kept before each keyframe")
    parser.add_argument("--highlight-after", type=float, default=2.0, help="seconds kept after each keyframe")
    parser.add_argument("--overwrite", action="store_true", help="write into existing non-empty output folders")
    parser.add_argument("--json", action="store_true", help="print the summaries as a JSON list on stdout")
    limit = parser.add_argument_group("limits per video (a video over one fails with the number and the limit)")
    limit.add_argument("--max-minutes", type=_positive_float, help="longest video (default: any length)")
    limit.add_argument("--max-windows", type=_positive_int, help=f"default {LOCAL_LIMITS.max_windows:,}")
    limit.add_argument(
        "--max-frames", type=_positive_int, help=f"decoded frames (default {LOCAL_LIMITS.max_frames:,})"
    )
    parser.set_defaults(handler=_summarize)


# -- training data, features, adapters ------------------------------------------------------------------------------


def _convert_data(args: argparse.Namespace) -> int:
    from .alignment_data import alignment_rows_from_examples, videoxum_alignment_rows
    from .dataset_folders import ALIGNMENT_FILE, SPLIT_FILES, write_dataset_card
    from .outputs import check_output_dir
    from .training_data import convert_v2xum_conversations, convert_videoxum, find_video, write_jsonl

    folder = not args.output.endswith((".jsonl", ".json"))  # a data folder that datasets.load_dataset loads
    out = Path(args.output) / SPLIT_FILES[args.split] if folder else Path(args.output)
    check_output_dir(out, args.overwrite)
    alignment = Path(args.output) / ALIGNMENT_FILE if folder and args.split == "train" else args.alignment
    if alignment:
        check_output_dir(alignment, args.overwrite)
    with open(args.input, encoding="utf-8") as f:
        try:
            annotations = json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f"{args.input} is not JSON ({error})") from error
    try:
        if args.format == "videoxum":
            examples = convert_videoxum(
                annotations, args.video_root, tasks=args.tasks, min_agreement=args.min_agreement
            )
            captions = videoxum_alignment_rows(annotations, partial(find_video, args.video_root))
        else:
            examples = convert_v2xum_conversations(annotations, args.video_root)
            captions = alignment_rows_from_examples(examples)
    except KeyError as error:
        raise ValueError(f"cannot convert {args.input}: missing field {error}") from error
    if folder and args.video_root:  # rows name their videos from the folder, as datasets reads them
        out.parent.mkdir(parents=True, exist_ok=True)
        for row in [*examples, *captions]:
            row["video"] = os.path.relpath(os.path.join(args.video_root, row["video"]), out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"wrote {write_jsonl(examples, out)} training examples to {out}")
    if alignment:
        print(f"wrote {write_jsonl(captions, alignment)} alignment captions (stage 1) to {alignment}")
    if folder:
        source = "VideoXum annotations" if args.format == "videoxum" else "the released V2Xum/VTimeLLM conversations"
        write_dataset_card(out.parent, out.parent.name, f"Converted from {source} by `v2xum convert-data`.")
    return 0


def _add_convert_data(commands) -> None:
    parser = commands.add_parser(
        "convert-data", help="convert VideoXum or V2Xum/VTimeLLM annotations to training JSONL"
    )
    parser.add_argument("format", choices=["videoxum", "v2xum"])
    parser.add_argument("input", help="train/val/test_videoxum.json, or the V2Xum conversation JSON")
    parser.add_argument(
        "output",
        help="a data folder (gets <split>.jsonl, align.jsonl for the train split, and a dataset card: "
        "datasets.load_dataset loads it), or a .jsonl file of training examples",
    )
    parser.add_argument("--split", choices=["train", "validation", "test"], default="train", help="with a data folder")
    parser.add_argument("--video-root", help="where the videos are (finds each video's file extension)")
    parser.add_argument("--tasks", nargs="+", choices=["video", "text", "both"], default=["both", "video", "text"])
    parser.add_argument(
        "--min-agreement",
        type=float,
        default=0.5,
        help="VideoXum: share of annotators that must select a frame for it to be a keyframe",
    )
    parser.add_argument(
        "--alignment",
        metavar="ALIGN_JSONL",
        help="also write stage-1 alignment captions (each sentence and its time span) to this file",
    )
    _overwrite_flag(parser)
    parser.set_defaults(handler=_convert_data)


def _cache_features(args: argparse.Namespace) -> int:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from .feature_cache import build_feature_cache
    from .outputs import check_output_dir
    from .summarize import resolve_device
    from .training_data import load_training_examples

    out = check_output_dir(args.out, args.overwrite)
    examples = load_training_examples(args.data, args.video_root, args.skip_missing)
    model = AutoModelForImageTextToText.from_pretrained(args.model).to(resolve_device(args.device)).eval()
    processor = AutoProcessor.from_pretrained(args.model)
    start = time.perf_counter()
    cache = build_feature_cache(
        model,
        processor,
        examples["video"],
        out,
        num_frames=args.num_frames,
        decode_mode=args.decode_mode,
        model_id=args.model,
    )
    print(f"cached features of {len(cache.info['videos'])} videos in {out} ({time.perf_counter() - start:.1f} s)")
    return 0


def _add_cache_features(commands) -> None:
    parser = commands.add_parser("cache-features", help="run the frozen vision tower once over a training set")
    parser.add_argument("--model", required=True, help="the V2Xum checkpoint that will be trained")
    parser.add_argument("--data", required=True, help="JSONL of training examples")
    parser.add_argument("--video-root")
    parser.add_argument("--out", required=True, help="cache folder")
    parser.add_argument("--num-frames", type=_positive_int, help="frames per video (default: the processor's)")
    parser.add_argument("--decode-mode", choices=["exact", "keyframes"], default="exact")
    parser.add_argument("--skip-missing", action="store_true")
    parser.add_argument("--device", default="auto")
    _overwrite_flag(parser)
    parser.set_defaults(handler=_cache_features)


def _merge_adapter(args: argparse.Namespace) -> int:
    from .training import merge_adapter

    merge_adapter(args.adapter_dir, args.out_dir, base_model=args.base, overwrite=args.overwrite)
    print(f"wrote the merged checkpoint to {args.out_dir}")
    return 0


def _add_merge_adapter(commands) -> None:
    parser = commands.add_parser("merge-adapter", help="merge a LoRA adapter from train_sft.py into a full checkpoint")
    parser.add_argument("adapter_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--base", help="base checkpoint (default: the one named in adapter_config.json)")
    _overwrite_flag(parser)
    parser.set_defaults(handler=_merge_adapter)


# -- evaluate -------------------------------------------------------------------------------------------------------


def _evaluate(args: argparse.Namespace) -> int:
    from evaluate_metrics.clip_backends import ClipEmbedder

    from .dataset_folders import SPLIT_FILES, load_dataset_rows, local_dataset_folder
    from .evaluation import markdown_table, run_evaluation, text_corpus
    from .outputs import check_output_dir
    from .summarize import resolve_device
    from .training_data import load_training_examples, training_overlap

    out = check_output_dir(args.out, args.overwrite)
    if (args.model is None) == (args.predictions is None):
        raise ValueError("give --model (to generate summaries) or --predictions (a predictions JSONL)")
    if args.dataset:
        folder = local_dataset_folder(args.dataset)
        examples = list(load_dataset_rows(args.dataset, args.split, None, args.video_root, args.skip_missing))
        data_file = folder / SPLIT_FILES.get(args.split, f"{args.split}.jsonl")
    else:
        data = Path(args.data)
        data_file = data / f"{args.split}.jsonl" if data.is_dir() else data
        examples = list(load_training_examples(data_file, args.video_root, args.skip_missing))
    device = resolve_device(args.device)
    try:
        embedder = ClipEmbedder(
            args.clip_model, backend=args.clip_backend, pretrained=args.clip_pretrained, device=device, progress=True
        )
    except OSError as error:
        reason = str(error).strip().splitlines()[0]
        raise OSError(
            f"cannot load the CLIP model '{args.clip_model}' (--clip-model): {reason} Offline, give a "
            "local CLIP folder, or --clip-backend v2xum_tower --clip-model <the V2Xum checkpoint>"
        ) from error
    corpus_file = args.baseline_corpus or (data_file.parent / "train.jsonl")
    overlap = training_overlap(args.model, [e["video"] for e in examples]) if args.model else None
    if overlap:
        print(
            f"warning: {len(overlap)} of the {len({e['video'] for e in examples})} evaluated videos are in the "
            f"model's training data ({args.model}/training_videos.json), e.g. {overlap[0]}: its scores here "
            "overstate what it does on unseen videos",
            file=sys.stderr,
        )
    record = run_evaluation(
        examples,
        out,
        model=args.model,
        predictions_file=args.predictions,
        clip_embedder=embedder,
        num_frames=args.num_frames,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        baselines=args.baselines,
        corpus=text_corpus(corpus_file) if args.baselines else None,
        dataset_name=args.dataset_name or data_file.resolve().parent.name,
        split=args.split,
        device=device,
        dtype=args.dtype,
        extra={"videos_seen_in_training": None if overlap is None else len(overlap)},
    )
    print(markdown_table(record["results"]))
    print(f"wrote results.json, results.md, model_index.json and predictions.jsonl to {out}")
    return 0


def _add_evaluate(commands) -> None:
    parser = commands.add_parser("evaluate", help="score a model (or a predictions file) on a dataset")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", help="a V2Xum checkpoint to generate summaries with")
    source.add_argument("--predictions", help="a predictions JSONL (VideoSummary dicts with 'video') instead")
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--data", help="JSONL in the training format, or a folder of <split>.jsonl")
    data.add_argument("--dataset", help="a data folder or Hub dataset id that datasets.load_dataset loads")
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", required=True)
    parser.add_argument("--video-root")
    parser.add_argument("--skip-missing", action="store_true")
    parser.add_argument("--dataset-name", help="name for model-index entries (default: the data folder's name)")
    parser.add_argument(
        "--baseline-corpus",
        help="training-format file whose sentences the text baselines may say "
        "(default: train.jsonl beside the evaluated split; none: no text baselines)",
    )
    parser.add_argument(
        "--clip-model",
        default="openai/clip-vit-large-patch14",
        help="CLIP for FCLIP/Cross-FCLIP/VT-CLIPScore (Hub id or folder; open_clip model name)",
    )
    parser.add_argument(
        "--clip-backend",
        choices=["transformers", "open_clip", "v2xum_tower"],
        default="transformers",
        help="v2xum_tower: the evaluated model's own tower (images only)",
    )
    parser.add_argument("--clip-pretrained", help="open_clip pretrained tag or checkpoint file")
    parser.add_argument("--num-frames", type=_positive_int)
    parser.add_argument("--batch-size", type=_positive_int, default=1)
    parser.add_argument("--max-new-tokens", type=_positive_int, default=256)
    parser.add_argument("--baselines", action="store_true", help="also score random and uniform baselines")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", choices=DTYPE_CHOICES, default="auto")
    _overwrite_flag(parser)
    parser.set_defaults(handler=_evaluate)


# -- push -----------------------------------------------------------------------------------------------------------


def _push(args: argparse.Namespace) -> int:
    import tempfile

    from huggingface_hub.utils import validate_repo_id

    from .hub import METRIC_NAMES, push_app, push_metric, push_model

    hub_options = {"token": args.token, "private": args.private}
    if args.what == "model":
        targets = [
            (
                args.repo_id,
                "model",
                partial(
                    push_model,
                    args.checkpoint,
                    args.repo_id,
                    results_dir=args.results,
                    datasets=args.dataset,
                    base_model=args.base_model,
                    license=args.license,
                    base_model_id=args.base_model_id,
                    package_requirement=args.package_requirement,
                    **hub_options,
                ),
            )
        ]
    elif args.what == "app":
        requirement = args.package_requirement  # default: the package's own wheel, shipped in the Space
        targets = [
            (
                args.space,
                "Space",
                partial(push_app, args.model, args.space, package_requirement=requirement, **hub_options),
            )
        ]
    else:
        spaces = (
            {name: f"{args.space}/{name}" for name in METRIC_NAMES} if args.name == "all" else {args.name: args.space}
        )
        targets = [
            (space, "Space", partial(push_metric, name, space, **hub_options)) for name, space in spaces.items()
        ]
    for repo_id, _, _ in targets:  # as the Hub would: `..`, a path or a bad name never reaches the staging folder
        validate_repo_id(repo_id)
    staging_root = None
    if args.dry_run:
        staging_root = Path(args.staging_dir) if args.staging_dir else Path(tempfile.mkdtemp(prefix="v2xum-staged-"))
    for repo_id, kind, push in targets:
        if args.dry_run:
            staging = staging_root / repo_id.replace("/", "__")
            files = push(dry_run_dir=staging, overwrite=args.overwrite)
            print(f"dry run: would upload {len(files)} files to the {kind} {repo_id} (staged in {staging}):")
            for name, size in files.items():
                print(f"  {name}  ({size:,} bytes)")
        else:
            commit = push()
            print(f"pushed to the {kind} {repo_id}: {getattr(commit, 'commit_url', repo_id)}")
    return 0


def _add_push(commands) -> None:
    parser = commands.add_parser("push", help="publish a checkpoint, the metrics or the app to the Hugging Face Hub")
    targets = parser.add_subparsers(dest="what", required=True)
    model = targets.add_parser("model", help="checkpoint + processor + remote code + pipeline + model card")
    model.add_argument("checkpoint")
    model.add_argument("repo_id")
    model.add_argument("--results", help="a `v2xum evaluate` output folder: model-index and results table")
    model.add_argument("--dataset", nargs="+", help="training/evaluation datasets for the card")
    model.add_argument("--base-model", nargs="+", help="base models for the card (Hub ids)")
    model.add_argument("--license", default="apache-2.0")
    model.add_argument(
        "--base-model-id",
        help="an adapter's base as the Hub knows it (org/name): what the pushed adapter loads into",
    )
    model.add_argument("--package-requirement", help="how the card says to install the V2Xum package")
    metric = targets.add_parser("metric", help="a metric as a gradio Space (card, module, app.py)")
    metric.add_argument("name", help="fclip, cross_fclip, video_summary_f1, video_summary_text, or all")
    metric.add_argument("space", help="org/space-name (with 'all': the org, one Space per metric)")
    app = targets.add_parser("app", help="the `v2xum app` demo for a model, as a gradio Space")
    app.add_argument("space", help="org/space-name")
    app.add_argument("--model", required=True, help="the model's Hub id (org/name)")
    app.add_argument(
        "--package-requirement",
        help="a requirement the Space installs this package by (default: its wheel, built and shipped in the Space)",
    )
    for target in (model, metric, app):
        target.add_argument("--private", action="store_true")
        target.add_argument("--token", help="Hub token (default: the logged-in one or HF_TOKEN)")
        target.add_argument(
            "--dry-run", action="store_true", help="only stage the repository and list what would be uploaded"
        )
        target.add_argument("--staging-dir", help="where --dry-run stages (default: a new temporary folder)")
        _overwrite_flag(target)
    parser.set_defaults(handler=_push)


# -- StoryBoard and the demo ----------------------------------------------------------------------------------------


def _storyboard(args: argparse.Namespace) -> int:
    from .outputs import check_output_dir
    from .storyboard import make_storyboard, write_storyboard_base

    out = check_output_dir(args.out, args.overwrite)
    start = time.perf_counter()
    if args.action == "make":
        splits = make_storyboard(out, n_videos=args.n_videos, seed=args.seed, stories=args.stories)
        counts = ", ".join(f"{len(v)} {k}" for k, v in splits.items())
        print(f"wrote {args.n_videos} StoryBoard videos ({counts}) to {out} in {time.perf_counter() - start:.1f} s")
    else:
        write_storyboard_base(out, seed=args.seed)
        print(f"wrote the untrained StoryBoard demo model to {out}")
    return 0


def _add_storyboard(commands) -> None:
    parser = commands.add_parser("storyboard", help="the StoryBoard benchmark: generated videos with ground truth")
    actions = parser.add_subparsers(dest="action", required=True)
    make = actions.add_parser("make", help="generate videos, annotations and train/val/test splits")
    make.add_argument("--out", required=True)
    make.add_argument("--n-videos", type=_positive_int, default=300)
    make.add_argument("--seed", type=int, default=0)
    make.add_argument(
        "--stories",
        type=_positive_int,
        default=1,
        help="stories chained into each video (long videos with ground truth in real seconds)",
    )
    init_model = actions.add_parser("init-model", help="write the untrained StoryBoard demo model")
    init_model.add_argument("out")
    init_model.add_argument("--seed", type=int, default=0)
    for action in (make, init_model):
        _overwrite_flag(action)
    parser.set_defaults(handler=_storyboard)


def _demo(args: argparse.Namespace) -> int:
    from .demo import describe, run_demo

    start = time.perf_counter()
    truth, summary = run_demo(args.out, model=args.model, seed=args.seed, device=args.device, overwrite=args.overwrite)
    print(describe(truth, summary))
    folder = Path(args.out) / "storyboard_sample"
    print(f"\noutputs in {folder}: " + ", ".join(sorted(summary["files"].values())))
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


def _add_demo(commands) -> None:
    parser = commands.add_parser("demo", help="summarize a generated StoryBoard video with the demo model, end to end")
    parser.add_argument("--out", default="v2xum-demo")
    parser.add_argument("--model", help="default: the StoryBoard demo model shipped with the package")
    parser.add_argument("--seed", type=int, default=7, help="which sample video to generate")
    parser.add_argument("--device", default="cpu")
    _overwrite_flag(parser)
    parser.set_defaults(handler=_demo)


def _app(args: argparse.Namespace) -> int:
    try:
        from .app import launch
    except ImportError as error:
        raise ValueError(f"the app needs gradio: pip install 'v2xum[app]' ({error})") from error
    launch(
        args.model, host=args.host, port=args.port, share=args.share, device=args.device, max_minutes=args.max_minutes
    )
    return 0


def _add_app(commands) -> None:
    parser = commands.add_parser("app", help="a gradio app: upload a video, see and download its summary")
    parser.add_argument("--model", help="checkpoint folder or Hub id (default: the StoryBoard demo model)")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=_positive_int, help="default: the first free port from 7860")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--max-minutes", type=_positive_float, default=60.0, help="longest video accepted")
    parser.set_defaults(handler=_app)


def _serve(args: argparse.Namespace) -> int:
    try:
        from .serve import ServerOptions, serve_forever
    except ImportError as error:
        raise ValueError(f"the server needs Ray Serve: pip install 'v2xum[ray]' ({error})") from error
    from .resources import demo_model_dir

    if args.allow_local_media and not os.path.isdir(args.allow_local_media):
        raise ValueError(f"--allow-local-media {args.allow_local_media}: not a folder")
    options = ServerOptions(
        model=args.model or str(demo_model_dir()),
        **{name: getattr(args, name) for name in SERVE_OPTIONS if getattr(args, name) is not None},
    )
    serve_forever(options, address=args.address)
    return 0


SERVE_OPTIONS = (
    "host",
    "port",
    "replicas",
    "gpus_per_replica",
    "cpus_per_replica",
    "device",
    "dtype",
    "max_batch_size",
    "batch_wait_ms",
    "max_ongoing_requests",
    "max_queued_requests",
    "retry_after_s",
    "allow_local_media",
    "max_minutes",
    "max_upload_mb",
)


def _add_serve(commands) -> None:
    parser = commands.add_parser("serve", help="an HTTP server on Ray Serve (summaries and OpenAI chat completions)")
    parser.add_argument("--model", help="checkpoint folder or Hub id (default: the StoryBoard demo model)")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=_positive_int, default=8000)
    parser.add_argument("--address", help="a running Ray cluster to join (default: start a local Ray)")
    parser.add_argument("--replicas", type=_positive_int, help="copies of the model (default 1)")
    parser.add_argument("--gpus-per-replica", type=float, help="GPUs each replica holds (default 0)")
    parser.add_argument("--cpus-per-replica", type=_positive_float, help="CPUs each replica holds (default 1)")
    parser.add_argument("--device", help="auto (default), cpu or cuda")
    parser.add_argument("--dtype", choices=["auto", "bf16", "fp16", "fp32"])
    parser.add_argument("--max-batch-size", type=_positive_int, help="videos generated together (default 8)")
    parser.add_argument("--batch-wait-ms", type=float, help="how long a batch waits to fill (default 20)")
    parser.add_argument(
        "--max-ongoing-requests", type=_positive_int, help="requests a replica works on at once (default 8)"
    )
    parser.add_argument(
        "--max-queued-requests", type=_positive_int, help="requests waiting beyond those; more get 503 (default 32)"
    )
    parser.add_argument(
        "--retry-after",
        dest="retry_after_s",
        type=_positive_float,
        help="seconds a refused (503) client is told to wait in its Retry-After header (default 1)",
    )
    parser.add_argument("--allow-local-media", metavar="DIR", help="let requests name videos inside DIR by path")
    parser.add_argument("--max-minutes", type=_positive_float, help="longest video accepted (default 60)")
    parser.add_argument("--max-upload-mb", type=_positive_float, help="largest upload accepted (default 1024)")
    parser.set_defaults(handler=_serve)


COMMANDS = (
    _add_init_tiny,
    _add_summarize,
    _add_convert_data,
    _add_cache_features,
    _add_merge_adapter,
    _add_evaluate,
    _add_push,
    _add_storyboard,
    _add_demo,
    _add_app,
    _add_serve,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="v2xum", description="Cross-modal video summarization with V2Xum.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for register in COMMANDS:
        register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    # When this run started: from the command line, the process's creation (two runs launched together may finish
    # importing torch seconds apart, and the faster may have finished videos by then); called from Python, now.
    started = psutil.Process().create_time() if argv is None else time.time()
    args = build_parser().parse_args(argv)
    args.started = started
    try:
        return args.handler(args)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
