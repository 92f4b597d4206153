# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Publishing to the Hugging Face Hub: a V2Xum checkpoint as a model repository (weights, processor, generation
config, remote code, the video-summarization pipeline and a model card), and each metric as a Space."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import httpx2
from huggingface_hub import EvalResult, HfApi, ModelCard
from huggingface_hub.utils import validate_repo_id

from modeling_v2xum.model_card import card_section, is_hub_id, render_model_card, weights_fingerprint
from modeling_v2xum.remote_code import save_remote_code

from .outputs import check_output_dir
from .resources import metric_dir


# The gradio a Space runs (its card's `sdk_version`): the version this package's app is tested with, pinned in
# setup.py's `app` extra.
GRADIO_VERSION = "6.31.0"
# Checkpoint files worth publishing (training state, optimizer and logs stay home).
_SKIP = ("training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state", "trainer_state.json", "README.md")


def stage_model(
    checkpoint_dir: str | os.PathLike,
    staging_dir: str | os.PathLike,
    repo_id: str,
    card: ModelCard | None = None,
    results_dir: str | os.PathLike | None = None,
    datasets: list[str] | None = None,
    base_model: str | list[str] | None = None,
    license: str = "apache-2.0",
    training_summary: str | None = None,
    base_model_id: str | None = None,
    package_requirement: str | None = None,
) -> Path:
    """Lays out the model repository in `staging_dir`: the checkpoint's files (a full checkpoint or a LoRA adapter
    from `train_sft.py`, its base named by `base_model_id` on the Hub), the remote-code files, the pipeline declared
    in `config.json` (`custom_pipelines`), and `README.md`: `card`, or the folder's own card kept and brought up to
    date (`merge_card`), with `model-index` from a `v2xum evaluate` output folder (`results_dir`) of this model."""
    checkpoint_dir, staging = Path(checkpoint_dir), Path(staging_dir)
    adapter_base = _adapter_base(checkpoint_dir, base_model_id)
    config = _checkpoint_config(checkpoint_dir)
    staging.mkdir(parents=True, exist_ok=True)
    for path in checkpoint_dir.iterdir():
        if path.is_symlink():  # where a link leads is not the folder's: never uploaded by following it
            print(f"warning: {path} is a symbolic link; not uploaded", file=sys.stderr)
        elif path.is_file() and not path.name.startswith(_SKIP):
            shutil.copy2(path, staging / path.name)
    save_remote_code(staging)
    if (staging / "config.json").is_file():
        config.save_pretrained(staging)  # declares the remote code and the pipeline, local paths left out
    if adapter_base is not None:
        adapter_config = json.loads((staging / "adapter_config.json").read_text())
        adapter_config["base_model_name_or_path"] = adapter_base
        (staging / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2) + "\n")
        base_model = base_model or adapter_base
    if card is None:
        card = merge_card(
            checkpoint_dir,
            config,
            repo_id,
            results_dir,
            datasets,
            base_model,
            license,
            training_summary,
            package_requirement,
        )
    card.save(staging / "README.md")
    return staging


def _checkpoint_config(checkpoint_dir: Path):
    """The V2Xum config of a checkpoint folder, or of the base of an adapter folder; errors name what is missing."""
    from transformers import AutoConfig

    adapter_config = checkpoint_dir / "adapter_config.json"
    if (checkpoint_dir / "config.json").is_file():
        config = AutoConfig.from_pretrained(checkpoint_dir)
    elif adapter_config.is_file():
        config = AutoConfig.from_pretrained(json.loads(adapter_config.read_text())["base_model_name_or_path"])
    else:
        raise FileNotFoundError(f"{checkpoint_dir} has no config.json: not a saved checkpoint")
    if config.model_type != "v2xum":
        raise ValueError(f"{checkpoint_dir} holds a '{config.model_type}' model, not a V2Xum checkpoint")
    if not (checkpoint_dir / "processor_config.json").is_file():
        raise FileNotFoundError(f"{checkpoint_dir} has no processor_config.json: save the processor with the model")
    return config


def _adapter_base(checkpoint_dir: Path, base_model_id: str | None) -> str | None:
    """An adapter's base as the Hub repository will name it: `base_model_id`, or the base it records when that is
    a Hub id; a local base is refused (the pushed adapter could not load) with the way out."""
    adapter_config = checkpoint_dir / "adapter_config.json"
    if not adapter_config.is_file():
        return None
    recorded = json.loads(adapter_config.read_text()).get("base_model_name_or_path")
    if base_model_id is not None:
        validate_repo_id(base_model_id)
        return base_model_id
    if is_hub_id(recorded):
        return recorded
    raise ValueError(
        f"{checkpoint_dir} is a LoRA adapter on the local base {recorded}: on the Hub it could not load. Push the "
        "base first (v2xum push model <base> org/base), then give it: --base-model-id org/base"
    )


def merge_card(
    checkpoint_dir: Path,
    config,
    repo_id,
    results_dir,
    datasets,
    base_model,
    license,
    training_summary,
    package_requirement=None,
) -> ModelCard:
    """The card of a checkpoint folder, its own card kept: its training section, results, `model-index`, datasets
    and base models stay, what describes the folder (frame count, repo id in the snippets, `peft` for an adapter)
    is brought up to date, and `results_dir` (`v2xum evaluate`'s output) is added when those results are this
    model's (the same weights fingerprint)."""
    own = ModelCard.load(checkpoint_dir / "README.md") if (checkpoint_dir / "README.md").is_file() else None
    eval_results = list(own.data.eval_results or []) if own else []
    results_table = (card_section(own, "Results") if own else None) or "No evaluation results yet."
    if results_dir is not None:
        results_dir = Path(results_dir)
        _check_results_are_this_models(results_dir, checkpoint_dir)
        new = [EvalResult(**entry) for entry in json.loads((results_dir / "model_index.json").read_text())]
        eval_results += [r for r in new if r not in eval_results]
        table = (results_dir / "results.md").read_text().strip()
        results_table = table if results_table.startswith("No evaluation") else f"{results_table}\n\n{table}"
        datasets = datasets or sorted({entry.dataset_name for entry in new})
    if own is not None:
        datasets = sorted({*(datasets or []), *(own.data.datasets or [])}) or None
        base_model = base_model or own.data.base_model
        training_summary = training_summary or card_section(own, "Training")
    processor_config = json.loads((checkpoint_dir / "processor_config.json").read_text())
    return render_model_card(
        config,
        repo_id=repo_id,
        num_frames=processor_config["video_processor"]["num_frames"],
        base_model=base_model,
        datasets=datasets,
        training_summary=training_summary or "See the training configuration and command used for this checkpoint.",
        results=results_table,
        adapter=(checkpoint_dir / "adapter_config.json").is_file(),
        license=license,
        eval_results=eval_results,
        package_requirement=package_requirement,
    )


def _check_results_are_this_models(results_dir: Path, checkpoint_dir: Path) -> None:
    recorded = json.loads((results_dir / "results.json").read_text()).get("model_fingerprint")
    own = weights_fingerprint(checkpoint_dir)
    if recorded != own:
        raise ValueError(
            f"the results in {results_dir} are not this model's (weights fingerprint {recorded}, {checkpoint_dir} "
            f"has {own}): evaluate this folder, or push the one they belong to"
        )


def upload_folder(
    folder: str | os.PathLike,
    repo_id: str,
    commit_message: str,
    repo_type: str = "model",
    private: bool = False,
    token: str | None = None,
    revision: str | None = None,
    **create_kwargs,
):
    """The one way this package uploads: create the repository if needed, then one commit with `folder`. A Hub or
    network failure is an OSError of one line naming the repository (no transport traceback)."""
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, **create_kwargs)
        return api.upload_folder(
            repo_id=repo_id,
            repo_type=repo_type,
            folder_path=os.fspath(folder),
            revision=revision,
            commit_message=commit_message,
        )
    except (httpx2.HTTPError, OSError) as error:  # HfHubHTTPError is both
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise OSError(
            f"cannot push to the {repo_type} repository '{repo_id}' on the Hugging Face Hub: "
            f"{type(error).__name__}: {reason}"
        ) from error


@contextmanager
def _staging(staging_dir: str | os.PathLike | None, overwrite: bool = False):
    """`staging_dir` (a dry run keeps it; it must be new or empty unless `overwrite`), else a temporary folder."""
    if staging_dir is not None:
        yield check_output_dir(staging_dir, overwrite)
        return
    with tempfile.TemporaryDirectory() as staging:
        yield Path(staging)


def staged_files(staging: str | os.PathLike) -> dict[str, int]:
    """`{path in the repository: size in bytes}` of a staged folder: what an upload would send."""
    staging = Path(staging)
    return {p.relative_to(staging).as_posix(): p.stat().st_size for p in sorted(staging.rglob("*")) if p.is_file()}


def push_model(
    checkpoint_dir,
    repo_id: str,
    private: bool = False,
    token: str | None = None,
    revision: str | None = None,
    dry_run_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    **card_options,
):
    """Stages the repository (see `stage_model`) and uploads it in one commit; with `dry_run_dir`, only stages it
    there and returns `staged_files`."""
    with _staging(dry_run_dir, overwrite) as staging:
        stage_model(checkpoint_dir, staging, repo_id, **card_options)
        if dry_run_dir is not None:
            return staged_files(staging)
        return upload_folder(
            staging,
            repo_id,
            "Upload V2Xum checkpoint, processor, remote code and model card",
            private=private,
            token=token,
            revision=revision,
        )


APP_TEMPLATE = '''"""Try the {name} metric: paste the compute() arguments as JSON."""

import json

import evaluate
import gradio as gr


module = evaluate.load("{name}.py")


def compute(arguments: str) -> str:
    try:
        return json.dumps(module.compute(**json.loads(arguments)), indent=2)
    except Exception as error:  # shown to the user, not raised into the Space
        return f"error: {{error}}"


with open("README.md", encoding="utf-8") as card:
    description = card.read().split("---", 2)[-1]

gr.Interface(
    fn=compute,
    inputs=gr.Code(value={example!r}, language="json", label="compute() arguments"),
    outputs=gr.Code(language="json", label="result"),
    title="{title}",
    article=description,
).launch()
'''

APP_EXAMPLES = {
    "fclip": {"predictions": [[[1, 0], [0, 1]]], "references": [[[1, 0]]]},
    "cross_fclip": {
        "prediction_frames": [[[1, 0]]],
        "prediction_texts": [[[0, 1]]],
        "reference_frames": [[[0, 1]]],
        "reference_texts": [[[1, 0]]],
    },
    "video_summary_f1": {
        "predictions": [[0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]],
        "references": [[[1, 0, 0, 0, 0, 0, 0]]],
    },
    "video_summary_text": {"predictions": ["a man cuts onions"], "references": [["A man cuts onions."]]},
}


# What each metric Space installs: the module and its sibling files need these, not this package.
METRIC_REQUIREMENTS = {
    "fclip": ["numpy", "torch", "transformers==5.23.0", "pillow"],
    "cross_fclip": ["numpy", "torch", "transformers==5.23.0", "pillow"],
    "video_summary_f1": ["numpy", "scipy==1.17.1"],
    "video_summary_text": ["pycocoevalcap==1.2"],
}


def stage_metric(name: str, staging_dir: str | os.PathLike) -> Path:
    """A metric Space that runs without this package: its card (README.md with the Space header), the module with
    its sibling scoring files (the shared code it imports relatively), `app.py` (a gradio interface on the current
    gradio, not evaluate's gradio-3 widget) and `requirements.txt`."""
    source = metric_dir(name)
    if not (source / f"{name}.py").is_file():
        raise FileNotFoundError(f"No metric '{name}' in {source.parent}")
    staging = Path(staging_dir)
    staging.mkdir(parents=True, exist_ok=True)
    for module in sorted(source.glob("*.py")):  # the module and its siblings (links to the shared files)
        shutil.copyfile(module, staging / module.name)
    shutil.copy2(source / "README.md", staging / "README.md")
    title = next(
        line.split(":", 1)[1].strip()
        for line in (source / "README.md").read_text().splitlines()
        if line.startswith("title:")
    )
    example = json.dumps(APP_EXAMPLES[name])
    (staging / "app.py").write_text(APP_TEMPLATE.format(name=name, title=title, example=example))
    requirements = ["evaluate==0.4.6", "datasets==5.2.0", *METRIC_REQUIREMENTS[name]]
    (staging / "requirements.txt").write_text("\n".join(requirements) + "\n")
    return staging


def push_metric(
    name: str,
    space_id: str,
    token: str | None = None,
    private: bool = False,
    dry_run_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
):
    with _staging(dry_run_dir, overwrite) as staging:
        stage_metric(name, staging)
        if dry_run_dir is not None:
            return staged_files(staging)
        return upload_folder(
            staging,
            space_id,
            f"Upload the {name} metric",
            repo_type="space",
            private=private,
            token=token,
            space_sdk="gradio",
        )


SPACE_APP = '''"""The V2Xum demo app for {model} (`v2xum app`), as a Hugging Face Space."""

from v2xum.app import launch


if __name__ == "__main__":  # a Space runs `python app.py`
    launch("{model}", host="0.0.0.0", port=7860)
'''

SPACE_CARD = """---
title: {title_yaml}
emoji: 🎬
colorFrom: indigo
colorTo: red
sdk: gradio
sdk_version: {gradio}
app_file: app.py
pinned: false
license: {license}
models:
- {model}
tags:
- v2xum
- video-summarization
short_description: Summarize a video as text, keyframes or both
---

# {title}

Upload a video (or generate a StoryBoard sample) and [{model}](https://huggingface.co/{model}) summarizes it as text,
keyframes or both ([V2Xum](https://arxiv.org/abs/2404.12353)): sentences with clickable times, the keyframes, a
timeline, a highlight reel, and the summary as JSON and subtitles to download.

Run it locally with the V2Xum package (its wheel is in this Space: `pip install "{package}[app]"`), then
`v2xum app --model {model}`.
"""


def package_wheel(out_dir: str | os.PathLike) -> Path:
    """This package as a wheel built from its source (what a Space installs, since no index serves it)."""
    source = Path(__file__).resolve().parents[1]
    if not (source / "setup.py").is_file():
        raise FileNotFoundError(
            f"the V2Xum source (setup.py) is not beside the installed package ({source}); give "
            "--package-requirement (a requirement the Space can install) instead"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(out_dir),
        str(source),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(out_dir.glob("v2xum-*.whl"))
    if result.returncode != 0 or not wheels:
        raise OSError(f"building the V2Xum wheel failed: {(result.stderr or result.stdout).strip()[-500:]}")
    return wheels[-1]


def stage_app(
    model: str,
    staging_dir: str | os.PathLike,
    package_requirement: str | None = None,
    license: str = "apache-2.0",
) -> Path:
    """A gradio Space running `v2xum app` for `model` (a Hub id): `app.py`, `requirements.txt`, the Space card
    (`README.md`, its header pinning the gradio this package is tested with) and this package's wheel, which
    `requirements.txt` installs (or `package_requirement`, a requirement the Space can install from an index)."""
    if not is_hub_id(model):
        raise ValueError(f"a Space loads its model from the Hub: give a Hub id (org/name), not '{model}'")
    staging = Path(staging_dir)
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "app.py").write_text(SPACE_APP.format(model=model))
    if package_requirement is None:
        package_requirement = f"./wheels/{package_wheel(staging / 'wheels').name}"
    (staging / "requirements.txt").write_text(f"{package_requirement}[app]\ngradio=={GRADIO_VERSION}\n")
    title = f"V2Xum: {model.split('/')[-1]}"
    (staging / "README.md").write_text(
        SPACE_CARD.format(
            title=title,
            title_yaml=json.dumps(title),
            gradio=GRADIO_VERSION,
            license=license,
            model=model,
            package=package_requirement,
        )
    )
    return staging


def push_app(
    model: str,
    space_id: str,
    token: str | None = None,
    private: bool = False,
    package_requirement: str | None = None,
    dry_run_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
):
    with _staging(dry_run_dir, overwrite) as staging:
        stage_app(model, staging, package_requirement)
        if dry_run_dir is not None:
            return staged_files(staging)
        return upload_folder(
            staging,
            space_id,
            f"Upload the V2Xum app for {model}",
            repo_type="space",
            private=private,
            token=token,
            space_sdk="gradio",
        )


METRIC_NAMES = tuple(APP_EXAMPLES)

__all__ = [
    "stage_model",
    "push_model",
    "upload_folder",
    "stage_metric",
    "push_metric",
    "stage_app",
    "push_app",
    "staged_files",
    "METRIC_NAMES",
    "GRADIO_VERSION",
]
