# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""The `v2xum` command."""

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path


DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


class CommandError(Exception):
    """A problem with the command's arguments or environment, reported as one line and exit code 2."""


def _is_occupied(path: Path, overwrite: bool) -> bool:
    """True (after saying so) when `path` holds files and `--overwrite` was not given: user data is never replaced
    silently."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())) and not overwrite:
        print(f"error: {path} exists and is not empty; pass --overwrite to write there", file=sys.stderr)
        return True
    return False


def _init_tiny(args: argparse.Namespace) -> int:
    from .tiny import write_tiny_checkpoint

    out = Path(args.out_dir)
    if _is_occupied(out, args.overwrite):
        return 2
    start = time.perf_counter()
    write_tiny_checkpoint(
        out,
        vision_feature_mode=args.feature_mode,
        projector_type=args.projector,
        num_frames=args.num_frames,
        seed=args.seed,
    )
    print(f"wrote a tiny random-weight V2Xum checkpoint to {out} in {time.perf_counter() - start:.1f} s")
    return 0


def _resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CommandError(f"--device {name} was asked for but CUDA is not available here (use --device cpu)")
    return name


def _resolve_dtype(name: str, device: str):
    import torch

    if name == "auto":
        # bf16 where the GPU supports it; fp32 on CPU, where half precision is slow and lossy.
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16 if device.startswith("cuda") else torch.float32
    return getattr(torch, DTYPES[name])


def _load_pipeline(args: argparse.Namespace, device: str, dtype):
    from transformers import BitsAndBytesConfig, pipeline

    kwargs = {"dtype": dtype}
    if args.load_in_4bit or args.load_in_8bit:
        if importlib.util.find_spec("bitsandbytes") is None:
            flag = "--load-in-4bit" if args.load_in_4bit else "--load-in-8bit"
            raise CommandError(f"{flag} needs the bitsandbytes package: pip install bitsandbytes")
        quantization = BitsAndBytesConfig(
            load_in_4bit=args.load_in_4bit,
            load_in_8bit=args.load_in_8bit,
            bnb_4bit_compute_dtype=dtype,
            # The vision tower, projector and head stay in `dtype`: they are small and quality-sensitive.
            llm_int8_skip_modules=["vision_tower", "multi_modal_projector", "lm_head"],
        )
        kwargs |= {"model_kwargs": {"quantization_config": quantization}, "device_map": device}
    else:
        kwargs["device"] = device
    try:
        return pipeline("video-summarization", model=args.model, **kwargs)
    except (OSError, ValueError) as error:
        raise CommandError(f"cannot load model '{args.model}': {error}") from error


def _output_names(videos: list[str]) -> list[str]:
    """One folder name per input: the file stem, numbered when two inputs share a stem."""
    names, seen = [], {}
    for video in videos:
        stem = Path(video).stem or "video"
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return names


def _summarize(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from processing import VideoDecodingError, VideoSummary, decode_video
    from processing.export import export_summary

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        if not out.is_dir():
            raise NotADirectoryError(f"{out} is not a directory")
    except OSError as error:
        print(f"error: cannot use output directory '{out}': {error}", file=sys.stderr)
        return 2

    failures: dict[str, str] = {}
    jobs = []
    for video, name in zip(args.videos, _output_names(args.videos)):
        target = out / name
        if target.exists() and any(target.iterdir()) and not args.overwrite:
            failures[video] = f"output folder {target} already exists and is not empty (pass --overwrite)"
        else:
            jobs.append((video, target))

    records = []
    if jobs:
        try:
            device = _resolve_device(args.device)
            dtype = _resolve_dtype(args.dtype, device)
            pipe = _load_pipeline(args, device, dtype)
        except CommandError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        num_frames = args.num_frames or pipe.processor.video_processor.num_frames
        settings = {
            "task": args.task,
            "num_frames": num_frames,
            "query": args.query,
            "max_keyframes": args.max_keyframes,
            "decode_mode": args.decode_mode,
            "max_new_tokens": args.max_new_tokens,
            "device": device,
            "dtype": str(dtype).removeprefix("torch."),
            "quantization": "4bit" if args.load_in_4bit else "8bit" if args.load_in_8bit else None,
        }
        progress = tqdm(total=len(jobs), desc="summarizing", unit="video", disable=None, file=sys.stderr)
        for start in range(0, len(jobs), args.batch_size):
            decoded = []
            for video, target in jobs[start : start + args.batch_size]:
                try:
                    decoded.append((video, target, decode_video(video, num_frames=num_frames, mode=args.decode_mode)))
                except VideoDecodingError as error:
                    failures[video] = error.reason
                    progress.update()
            if not decoded:
                continue
            try:
                results = pipe(
                    [d for _, _, d in decoded],
                    batch_size=args.batch_size,
                    task=args.task,
                    num_frames=num_frames,
                    query=args.query,
                    max_keyframes=args.max_keyframes,
                    max_new_tokens=args.max_new_tokens,
                )
            except (RuntimeError, ValueError) as error:  # e.g. out of memory: the other batches still run
                for video, _, _ in decoded:
                    failures[video] = f"summarizing failed: {error}"
                progress.update(len(decoded))
                continue
            for (video, target, d), result in zip(decoded, results):
                try:
                    record = export_summary(
                        VideoSummary.from_dict(result),
                        d,
                        target,
                        extra={"model": args.model, "settings": settings},
                        highlights=args.highlights,
                        highlight_before=args.highlight_before,
                        highlight_after=args.highlight_after,
                    )
                except (OSError, ValueError) as error:
                    failures[video] = f"writing outputs to {target} failed: {error}"
                else:
                    records.append(record)
                    progress.write(f"{video} -> {target}", file=sys.stderr)
                progress.update()
        progress.close()

    if args.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
    for video, reason in failures.items():
        print(f"error: {video}: {reason}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} of {len(args.videos)} videos failed", file=sys.stderr)
    return 1 if failures else 0


def _convert_data(args: argparse.Namespace) -> int:
    from processing.training_data import convert_v2xum_conversations, convert_videoxum, write_jsonl

    out = Path(args.output)
    if _is_occupied(out, args.overwrite):
        return 2
    try:
        if args.format == "videoxum":
            examples = convert_videoxum(args.input, args.video_root, tasks=args.tasks, min_agreement=args.min_agreement)
        else:
            examples = convert_v2xum_conversations(args.input, args.video_root)
    except (OSError, ValueError, KeyError) as error:
        print(f"error: cannot convert {args.input}: {error!r}", file=sys.stderr)
        return 2
    count = write_jsonl(examples, out)
    print(f"wrote {count} training examples to {out}")
    return 0


def _cache_features(args: argparse.Namespace) -> int:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from processing.training_data import load_training_examples

    from .feature_cache import build_feature_cache

    out = Path(args.out)
    if _is_occupied(out, args.overwrite):
        return 2
    try:
        examples = load_training_examples(args.data, args.video_root, args.skip_missing)
        device = _resolve_device(args.device)
        model = AutoModelForImageTextToText.from_pretrained(args.model).to(device).eval()
        processor = AutoProcessor.from_pretrained(args.model)
    except (OSError, ValueError, CommandError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    cache = build_feature_cache(
        model, processor, examples["video"], out, num_frames=args.num_frames, decode_mode=args.decode_mode,
        model_id=args.model,
    )
    print(f"cached features of {len(cache.info['videos'])} videos in {out} ({time.perf_counter() - start:.1f} s)")
    return 0


def _merge_adapter(args: argparse.Namespace) -> int:
    from .training import merge_adapter

    try:
        merge_adapter(args.adapter_dir, args.out_dir, base_model=args.base, overwrite=args.overwrite)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote the merged checkpoint to {args.out_dir}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from evaluate_metrics.clip_backends import ClipEmbedder
    from processing.training_data import load_training_examples

    from .evaluation import run_evaluation

    out = Path(args.out)
    if _is_occupied(out, args.overwrite):
        return 2
    if (args.model is None) == (args.predictions is None):
        print("error: give --model (to generate summaries) or --predictions (a predictions JSONL)", file=sys.stderr)
        return 2
    data = Path(args.data)
    data_file = data / f"{args.split}.jsonl" if data.is_dir() else data
    try:
        examples = list(load_training_examples(data_file, args.video_root, args.skip_missing))
        device = _resolve_device(args.device)
        embedder = ClipEmbedder(args.clip_model, backend=args.clip_backend, pretrained=args.clip_pretrained,
                                device=device, progress=True)
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
            dataset_name=args.dataset_name or data_file.stem,
            split=args.split,
            device=device,
            dtype=_resolve_dtype(args.dtype, device),
        )
    except (OSError, ValueError, CommandError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from .evaluation import markdown_table

    print(markdown_table(record["results"]))
    print(f"wrote results.json, results.md, model_index.json and predictions.jsonl to {out}")
    return 0


def _push(args: argparse.Namespace) -> int:
    from .hub import METRIC_NAMES, push_metric, push_model

    try:
        if args.what == "model":
            commit = push_model(
                args.checkpoint, args.repo_id, private=args.private, token=args.token, results_dir=args.results,
                datasets=args.dataset, base_model=args.base_model, license=args.license,
            )
            print(f"pushed {args.checkpoint} to {commit.commit_url if hasattr(commit, 'commit_url') else args.repo_id}")
        else:
            names = METRIC_NAMES if args.name == "all" else [args.name]
            for name in names:
                space = f"{args.space}/{name}" if args.name == "all" else args.space
                push_metric(name, space, token=args.token, private=args.private)
                print(f"pushed the {name} metric to the Space {space}")
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _storyboard(args: argparse.Namespace) -> int:
    if _is_occupied(Path(args.out), args.overwrite):
        return 2
    start = time.perf_counter()
    if args.action == "make":
        from processing.storyboard import make_storyboard

        splits = make_storyboard(args.out, n_videos=args.n_videos, seed=args.seed)
        counts = ", ".join(f"{len(v)} {k}" for k, v in splits.items())
        print(f"wrote {args.n_videos} StoryBoard videos ({counts}) to {args.out} in {time.perf_counter() - start:.1f} s")
    else:
        from .demo import write_storyboard_base

        write_storyboard_base(args.out, seed=args.seed)
        print(f"wrote the untrained StoryBoard demo model to {args.out}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    import numpy as np

    from processing.storyboard import make_video_example

    from .demo import DEMO_MODEL_DIR

    model = Path(args.model) if args.model else DEMO_MODEL_DIR
    if not (model / "config.json").is_file():
        print(f"error: no demo model at {model}; build it with the commands in configs/storyboard_tiny.yaml",
              file=sys.stderr)
        return 2
    out = Path(args.out)
    if _is_occupied(out, args.overwrite):
        return 2
    start = time.perf_counter()
    (out / "videos").mkdir(parents=True, exist_ok=True)
    truth = make_video_example(str(out / "videos" / "storyboard_sample.mp4"), np.random.default_rng(args.seed),
                               "storyboard_sample")
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=2))
    video = str(out / truth["video"])
    code = main(["summarize", video, "--model", str(model), "--out", str(out), "--task", "both", "--highlights",
                 "--max-new-tokens", "64", "--device", args.device, "--overwrite"])
    if code != 0:
        return code
    summary = json.loads((out / "storyboard_sample" / "summary.json").read_text())
    print("\nwhat the video shows (ground truth):")
    for sentence in truth["sentences"]:
        print(f"  {sentence['seconds'][0]:5.1f} s  {sentence['text']}")
    print("what the model says:")
    seconds = {k["index"]: k["seconds"] for k in summary["keyframes"]}
    for sentence in summary["sentences"]:
        times = ", ".join(f"{seconds[i]:.1f} s" for i in sentence["keyframes"])
        print(f"  {times:>7}  {sentence['text']}")
    print(f"\noutputs in {out / 'storyboard_sample'}: " + ", ".join(sorted(summary["files"].values())))
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="v2xum", description="Cross-modal video summarization with V2Xum.")
    commands = parser.add_subparsers(dest="command", required=True)

    tiny = commands.add_parser("init-tiny", help="write a tiny random-weight checkpoint (tests, CI, trying things)")
    tiny.add_argument("out_dir")
    tiny.add_argument("--feature-mode", choices=["image_embeds", "patch_pooled"], default="image_embeds")
    tiny.add_argument("--projector", choices=["linear", "mlp2x_gelu"], default="linear")
    tiny.add_argument("--num-frames", type=int, default=8, help="frames the saved video processor samples")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--overwrite", action="store_true", help="write into a non-empty directory")
    tiny.set_defaults(handler=_init_tiny)

    summarize = commands.add_parser(
        "summarize",
        help="summarize video files into JSON, subtitles, a contact sheet, a timeline and a highlight reel",
        description="For each VIDEO writes OUT/<video stem>/: summary.json, summary.srt, summary.vtt, "
        "timeline.png, contact_sheet.png (when there are keyframes) and, with --highlights, highlights.mp4.",
    )
    summarize.add_argument("videos", nargs="+", metavar="VIDEO")
    summarize.add_argument("--model", required=True, help="a V2Xum checkpoint: local folder or Hub id")
    summarize.add_argument("--out", required=True, help="output folder (one sub-folder per video)")
    summarize.add_argument("--task", choices=["video", "text", "both"], default="both")
    summarize.add_argument("--num-frames", type=_positive_int, help="frames to sample (default: the processor's)")
    summarize.add_argument("--query", help="focus the summary on this topic")
    summarize.add_argument("--max-keyframes", type=_positive_int)
    summarize.add_argument("--max-new-tokens", type=_positive_int, default=256)
    summarize.add_argument("--decode-mode", choices=["exact", "keyframes"], default="exact",
                           help="'keyframes' decodes the nearest keyframes: much faster, approximate positions")
    summarize.add_argument("--batch-size", type=_positive_int, default=1)
    summarize.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    summarize.add_argument("--dtype", choices=["auto", *DTYPES], default="auto",
                           help="auto: bf16 on GPUs that support it, fp32 on CPU")
    quantize = summarize.add_mutually_exclusive_group()
    quantize.add_argument("--load-in-4bit", action="store_true", help="4-bit language model (needs bitsandbytes)")
    quantize.add_argument("--load-in-8bit", action="store_true", help="8-bit language model (needs bitsandbytes)")
    summarize.add_argument("--highlights", action="store_true", help="also cut highlights.mp4 around the keyframes")
    summarize.add_argument("--highlight-before", type=float, default=1.0, help="seconds kept before each keyframe")
    summarize.add_argument("--highlight-after", type=float, default=2.0, help="seconds kept after each keyframe")
    summarize.add_argument("--overwrite", action="store_true", help="write into existing non-empty output folders")
    summarize.add_argument("--json", action="store_true", help="print the summaries as a JSON list on stdout")
    summarize.set_defaults(handler=_summarize)

    convert = commands.add_parser("convert-data", help="convert VideoXum or V2Xum/VTimeLLM annotations to training JSONL")
    convert.add_argument("format", choices=["videoxum", "v2xum"])
    convert.add_argument("input", help="train/val/test_videoxum.json, or the V2Xum conversation JSON")
    convert.add_argument("output", help="JSONL of training examples")
    convert.add_argument("--video-root", help="where the videos are (finds each video's file extension)")
    convert.add_argument("--tasks", nargs="+", choices=["video", "text", "both"], default=["both", "video", "text"])
    convert.add_argument("--min-agreement", type=float, default=0.5,
                         help="VideoXum: share of annotators that must select a frame for it to be a keyframe")
    convert.add_argument("--overwrite", action="store_true")
    convert.set_defaults(handler=_convert_data)

    cache = commands.add_parser("cache-features", help="run the frozen vision tower once over a training set")
    cache.add_argument("--model", required=True, help="the V2Xum checkpoint that will be trained")
    cache.add_argument("--data", required=True, help="JSONL of training examples")
    cache.add_argument("--video-root")
    cache.add_argument("--out", required=True, help="cache folder")
    cache.add_argument("--num-frames", type=_positive_int, default=100)
    cache.add_argument("--decode-mode", choices=["exact", "keyframes"], default="exact")
    cache.add_argument("--skip-missing", action="store_true")
    cache.add_argument("--device", default="auto")
    cache.add_argument("--overwrite", action="store_true")
    cache.set_defaults(handler=_cache_features)

    merge = commands.add_parser("merge-adapter", help="merge a LoRA adapter from train_sft.py into a full checkpoint")
    merge.add_argument("adapter_dir")
    merge.add_argument("out_dir")
    merge.add_argument("--base", help="base checkpoint (default: the one named in adapter_config.json)")
    merge.add_argument("--overwrite", action="store_true")
    merge.set_defaults(handler=_merge_adapter)

    evaluation = commands.add_parser("evaluate", help="score a model (or a predictions file) on a dataset")
    source = evaluation.add_mutually_exclusive_group()
    source.add_argument("--model", help="a V2Xum checkpoint to generate summaries with")
    source.add_argument("--predictions", help="a predictions JSONL (VideoSummary dicts with 'video') instead")
    evaluation.add_argument("--data", required=True, help="JSONL in the training format, or a folder of <split>.jsonl")
    evaluation.add_argument("--split", default="test")
    evaluation.add_argument("--out", required=True)
    evaluation.add_argument("--video-root")
    evaluation.add_argument("--skip-missing", action="store_true")
    evaluation.add_argument("--dataset-name", help="name for model-index entries (default: the file name)")
    evaluation.add_argument("--clip-model", default="openai/clip-vit-large-patch14",
                            help="CLIP for FCLIP/Cross-FCLIP/VT-CLIPScore (Hub id or folder; open_clip model name)")
    evaluation.add_argument("--clip-backend", choices=["transformers", "open_clip", "v2xum_tower"],
                            default="transformers", help="v2xum_tower: the evaluated model's own tower (images only)")
    evaluation.add_argument("--clip-pretrained", help="open_clip pretrained tag or checkpoint file")
    evaluation.add_argument("--num-frames", type=_positive_int)
    evaluation.add_argument("--batch-size", type=_positive_int, default=1)
    evaluation.add_argument("--max-new-tokens", type=_positive_int, default=256)
    evaluation.add_argument("--baselines", action="store_true", help="also score random and uniform baselines")
    evaluation.add_argument("--device", default="auto")
    evaluation.add_argument("--dtype", choices=["auto", *DTYPES], default="auto")
    evaluation.add_argument("--overwrite", action="store_true")
    evaluation.set_defaults(handler=_evaluate)

    push = commands.add_parser("push", help="publish a checkpoint or the metrics to the Hugging Face Hub")
    targets = push.add_subparsers(dest="what", required=True)
    model_push = targets.add_parser("model", help="checkpoint + processor + remote code + pipeline + model card")
    model_push.add_argument("checkpoint")
    model_push.add_argument("repo_id")
    model_push.add_argument("--results", help="a `v2xum evaluate` output folder: model-index and results table")
    model_push.add_argument("--dataset", nargs="+", help="training/evaluation datasets for the card")
    model_push.add_argument("--base-model", nargs="+", help="base models for the card")
    model_push.add_argument("--license", default="apache-2.0")
    metric_push = targets.add_parser("metric", help="a metric as a gradio Space (card, module, app.py)")
    metric_push.add_argument("name", help="fclip, cross_fclip, video_summary_f1, video_summary_text, or all")
    metric_push.add_argument("space", help="org/space-name (with 'all': the org, one Space per metric)")
    for target in (model_push, metric_push):
        target.add_argument("--private", action="store_true")
        target.add_argument("--token", help="Hub token (default: the logged-in one or HF_TOKEN)")
    push.set_defaults(handler=_push)

    storyboard = commands.add_parser("storyboard", help="the StoryBoard benchmark: generated videos with ground truth")
    actions = storyboard.add_subparsers(dest="action", required=True)
    make = actions.add_parser("make", help="generate videos, annotations and train/val/test splits")
    make.add_argument("--out", required=True)
    make.add_argument("--n-videos", type=_positive_int, default=300)
    make.add_argument("--seed", type=int, default=0)
    init_model = actions.add_parser("init-model", help="write the untrained StoryBoard demo model")
    init_model.add_argument("out")
    init_model.add_argument("--seed", type=int, default=0)
    for action in (make, init_model):
        action.add_argument("--overwrite", action="store_true")
    storyboard.set_defaults(handler=_storyboard)

    demo = commands.add_parser("demo", help="summarize a generated StoryBoard video with the demo model, end to end")
    demo.add_argument("--out", default="v2xum-demo")
    demo.add_argument("--model", help="default: the committed examples/storyboard-demo")
    demo.add_argument("--seed", type=int, default=7, help="which sample video to generate")
    demo.add_argument("--device", default="cpu")
    demo.add_argument("--overwrite", action="store_true")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
