# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Publishing to the Hugging Face Hub: a V2Xum checkpoint as a model repository (weights, processor, generation
config, remote code, the video-summarization pipeline and a model card), and each metric as a Space."""

import json
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import httpx2
from huggingface_hub import EvalResult, HfApi, ModelCard

from modeling_v2xum.remote_code import save_remote_code

from . import PACKAGE_REQUIREMENT
from .model_card import is_hub_id, render_model_card
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
) -> Path:
    """Lays out the model repository in `staging_dir`: the checkpoint's files (a full checkpoint or a LoRA adapter
    from `train_sft.py`), the remote-code files, the pipeline declared in `config.json` (`custom_pipelines`), and
    `README.md`: `card`, or one rendered from `model_card.md` with `model-index` from a `v2xum evaluate` output
    folder (`results_dir`)."""
    checkpoint_dir, staging = Path(checkpoint_dir), Path(staging_dir)
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
    if card is None:
        card = _render_card(
            checkpoint_dir, config, repo_id, results_dir, datasets, base_model, license, training_summary
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


def _render_card(
    checkpoint_dir: Path, config, repo_id, results_dir, datasets, base_model, license, training_summary
) -> ModelCard:
    """The card of a checkpoint folder: its processor's frame count, `peft` for an adapter, and the base models
    given or those of the folder's own card (a `train_sft.py` output names its real sources)."""
    eval_results, results_table = [], "No evaluation results yet."
    if results_dir is not None:
        results_dir = Path(results_dir)
        entries = json.loads((results_dir / "model_index.json").read_text())
        eval_results = [EvalResult(**entry) for entry in entries]
        results_table = (results_dir / "results.md").read_text()
        datasets = datasets or sorted({entry["dataset_name"] for entry in entries})
    own_card = checkpoint_dir / "README.md"
    if base_model is None and own_card.is_file():
        base_model = ModelCard.load(own_card).data.base_model
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

Run it locally: `pip install "{package}[app]"`, then `v2xum app --model {model}`.
"""


def stage_app(
    model: str,
    staging_dir: str | os.PathLike,
    package_requirement: str = PACKAGE_REQUIREMENT,
    license: str = "apache-2.0",
) -> Path:
    """A gradio Space running `v2xum app` for `model` (a Hub id): `app.py`, `requirements.txt` and the Space card
    (`README.md`, its header pinning the gradio this package is tested with)."""
    if not is_hub_id(model):
        raise ValueError(f"a Space loads its model from the Hub: give a Hub id (org/name), not '{model}'")
    staging = Path(staging_dir)
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "app.py").write_text(SPACE_APP.format(model=model))
    (staging / "requirements.txt").write_text(f"{package_requirement}\ngradio=={GRADIO_VERSION}\n")
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
    package_requirement: str = PACKAGE_REQUIREMENT,
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
