# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Publishing to the Hugging Face Hub: a V2Xum checkpoint as a model repository (weights, processor, generation
config, remote code, the video-summarization pipeline and a model card), and each metric as a Space."""

import json
import os
import shutil
import tempfile
from pathlib import Path

from huggingface_hub import EvalResult, HfApi


PACKAGE_ROOT = Path(__file__).resolve().parents[1]
METRICS_DIR = PACKAGE_ROOT / "evaluate_metrics"
# What a Space needs to import `evaluate_metrics.*`: this package (pip-installable from its repository).
PACKAGE_REQUIREMENT = "v2xum @ git+https://github.com/v2xum/v2xum"
# Files that let `trust_remote_code=True` users load the model, processor and pipeline without the package.
REMOTE_CODE = {
    "configuration_v2xum.py": PACKAGE_ROOT / "modeling_v2xum" / "configuration_v2xum.py",
    "modeling_v2xum.py": PACKAGE_ROOT / "modeling_v2xum" / "modeling_v2xum.py",
    "generation_v2xum.py": PACKAGE_ROOT / "modeling_v2xum" / "generation_v2xum.py",
    "pipeline_v2xum.py": PACKAGE_ROOT / "modeling_v2xum" / "pipeline_v2xum.py",
    "processing_v2xum.py": PACKAGE_ROOT / "processing" / "processing_v2xum.py",
    "video_processing_v2xum.py": PACKAGE_ROOT / "processing" / "video_processing_v2xum.py",
    "video_decoding.py": PACKAGE_ROOT / "processing" / "video_decoding.py",
    "summary.py": PACKAGE_ROOT / "processing" / "summary.py",
}
CUSTOM_PIPELINE = {
    "video-summarization": {
        "impl": "pipeline_v2xum.VideoSummarizationPipeline",
        "pt": ["AutoModelForImageTextToText"],
        "type": "multimodal",
    }
}
# Checkpoint files worth publishing (training state, optimizer and logs stay home).
_SKIP = ("training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state", "trainer_state.json", "README.md")


def stage_model(
    checkpoint_dir: str | os.PathLike,
    staging_dir: str | os.PathLike,
    repo_id: str,
    results_dir: str | os.PathLike | None = None,
    datasets: list[str] | None = None,
    base_model: str | list[str] | None = None,
    license: str = "apache-2.0",
    training_summary: str | None = None,
) -> Path:
    """Lays out the model repository in `staging_dir`: the checkpoint's files, the remote-code files, the pipeline
    declared in `config.json` (`custom_pipelines`), and `README.md` rendered from `model_card.md` with `model-index`
    from a `v2xum evaluate` output folder (`results_dir`)."""
    from transformers import AutoConfig

    from .model_card import render_model_card

    checkpoint_dir, staging = Path(checkpoint_dir), Path(staging_dir)
    if not (checkpoint_dir / "config.json").is_file():
        raise FileNotFoundError(f"{checkpoint_dir} has no config.json: not a saved checkpoint")
    config = AutoConfig.from_pretrained(checkpoint_dir)
    if config.model_type != "v2xum":
        raise ValueError(f"{checkpoint_dir} holds a '{config.model_type}' model, not a V2Xum checkpoint")
    if not (checkpoint_dir / "processor_config.json").is_file():
        raise FileNotFoundError(f"{checkpoint_dir} has no processor_config.json: save the processor with the model")
    staging.mkdir(parents=True, exist_ok=True)
    for path in checkpoint_dir.iterdir():
        if path.is_file() and not path.name.startswith(_SKIP):
            shutil.copy2(path, staging / path.name)
    for name, source in REMOTE_CODE.items():
        shutil.copy2(source, staging / name)
    config_json = json.loads((staging / "config.json").read_text())
    config_json["custom_pipelines"] = CUSTOM_PIPELINE
    (staging / "config.json").write_text(json.dumps(config_json, indent=2, sort_keys=True) + "\n")

    eval_results, results_table = [], "No evaluation results yet."
    if results_dir is not None:
        results_dir = Path(results_dir)
        entries = json.loads((results_dir / "model_index.json").read_text())
        eval_results = [EvalResult(**entry) for entry in entries]
        results_table = (results_dir / "results.md").read_text()
        datasets = datasets or sorted({entry["dataset_name"] for entry in entries})
    card = render_model_card(
        config,
        repo_id=repo_id,
        base_model=base_model,
        datasets=datasets,
        training_summary=training_summary or "See the training configuration and command used for this checkpoint.",
        results=results_table,
        license=license,
        eval_results=eval_results,
    )
    card.save(staging / "README.md")
    return staging


def push_model(checkpoint_dir, repo_id: str, private: bool = False, token: str | None = None,
               revision: str | None = None, **card_options):
    """Stages the repository (see `stage_model`), creates it if needed and uploads it in one commit."""
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory() as staging:
        stage_model(checkpoint_dir, staging, repo_id, **card_options)
        api.create_repo(repo_id, private=private, exist_ok=True)
        return api.upload_folder(repo_id=repo_id, folder_path=staging, revision=revision,
                                 commit_message="Upload V2Xum checkpoint, processor, remote code and model card")


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
    "cross_fclip": {"prediction_frames": [[[1, 0]]], "prediction_texts": [[[0, 1]]],
                    "reference_frames": [[[0, 1]]], "reference_texts": [[[1, 0]]]},
    "video_summary_f1": {"predictions": [[0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]], "references": [[[1, 0, 0, 0, 0, 0, 0]]]},
    "video_summary_text": {"predictions": ["a man cuts onions"], "references": [["A man cuts onions."]]},
}


def stage_metric(name: str, staging_dir: str | os.PathLike, package_requirement: str = PACKAGE_REQUIREMENT) -> Path:
    """A metric Space: its card (README.md with the Space header), the module, `app.py` (a gradio interface on
    the current gradio, not evaluate's gradio-3 widget) and `requirements.txt`."""
    source = METRICS_DIR / name
    if not (source / f"{name}.py").is_file():
        raise FileNotFoundError(f"No metric '{name}' in {METRICS_DIR}")
    staging = Path(staging_dir)
    staging.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / f"{name}.py", staging / f"{name}.py")
    shutil.copy2(source / "README.md", staging / "README.md")
    title = next(line.split(":", 1)[1].strip() for line in (source / "README.md").read_text().splitlines()
                 if line.startswith("title:"))
    example = json.dumps(APP_EXAMPLES[name])
    (staging / "app.py").write_text(APP_TEMPLATE.format(name=name, title=title, example=example))
    (staging / "requirements.txt").write_text(
        "\n".join(["evaluate==0.4.6", "datasets==5.2.0", package_requirement]) + "\n"
    )
    return staging


def push_metric(name: str, space_id: str, token: str | None = None, private: bool = False,
                package_requirement: str = PACKAGE_REQUIREMENT):
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory() as staging:
        stage_metric(name, staging, package_requirement)
        api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        return api.upload_folder(repo_id=space_id, repo_type="space", folder_path=staging,
                                 commit_message=f"Upload the {name} metric")


METRIC_NAMES = tuple(APP_EXAMPLES)

__all__ = ["stage_model", "push_model", "stage_metric", "push_metric", "METRIC_NAMES", "REMOTE_CODE"]
