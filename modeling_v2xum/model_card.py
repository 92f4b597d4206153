# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Model cards of V2Xum folders, rendered from the repository's `model_card.md` template (huggingface_hub
`ModelCard`): what a checkpoint is, how it was trained, its results, and how to use it with or without the V2Xum
package. A folder's card is kept when its folder is pushed: `merge_model_card` keeps its training section, results
and metadata."""

import hashlib
import os
import re
from importlib.resources import files
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from processing import frame_token

from .configuration_v2xum import is_hub_id


def model_card_template() -> Path:
    """`model_card.md`: the Hub model card template (the repository's top-level file, shipped inside this package)."""
    return Path(str(files("modeling_v2xum").joinpath("model_card.md")))


def hub_base_models(sources) -> list[str] | None:
    """The card's `base_model`: the Hub ids among `sources` (a name or a list); local and temporary folders are not
    base models anyone else can find, so they are left out (the card's text still names them)."""
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources or [])
    return [os.fspath(s) for s in sources if is_hub_id(s)] or None


def source_name(name: str | os.PathLike | None, fallback: str) -> str:
    """How the card's text names a part: its Hub id, a local folder's own name, or `fallback` when unknown."""
    if not name:
        return fallback
    return os.fspath(name) if is_hub_id(name) else f"{Path(name).name} (local folder)"


def render_model_card(
    config,
    repo_id: str,
    num_frames: int,
    base_model: str | list[str] | None = None,
    vision_model: str | None = None,
    language_model: str | None = None,
    datasets: list[str] | None = None,
    training_summary: str = "Not trained by this package.",
    results: str = "No evaluation results yet.",
    vision_tower_trained: bool = False,
    adapter: bool = False,
    license: str = "apache-2.0",
    eval_results: list | None = None,
    template_path: str | os.PathLike | None = None,
    package_requirement: str | None = None,
) -> ModelCard:
    """A card for a V2Xum checkpoint with `config` whose processor samples `num_frames` frames: metadata (Hub base
    models, datasets, licence, pipeline tag, `library_name: peft` for a LoRA adapter, and `model-index` from
    `eval_results`, a list of `huggingface_hub.EvalResult`) and the template's sections."""
    card_data = ModelCardData(
        base_model=hub_base_models(base_model),
        datasets=datasets or None,
        eval_results=eval_results or None,
        model_name=repo_id.split("/")[-1],
        license=license,
        library_name="peft" if adapter else "transformers",
        pipeline_tag="video-text-to-text",
        tags=["v2xum", "video-summarization", "video-llm", *(["lora"] if adapter else [])],
    )
    style = config.temporal_prompt_style
    return ModelCard.from_template(
        card_data,
        template_path=os.fspath(template_path or model_card_template()),
        model_name=repo_id.split("/")[-1],
        repo_id=repo_id,
        package_install=_package_install(package_requirement),
        temporal_prompt_example=f"{frame_token(0, style)} <frame> {frame_token(1, style)} <frame> ...",
        vision_model=vision_model or source_name(config.vision_config._name_or_path, config.vision_config.model_type),
        vision_tower_state="fine-tuned" if vision_tower_trained else "frozen",
        vision_feature_mode=config.vision_feature_mode,
        tokens_per_frame=config.num_video_tokens_per_frame,
        projector_type=config.projector_type,
        language_model=language_model or source_name(config.text_config._name_or_path, config.text_config.model_type),
        num_frames=num_frames,
        max_frames=config.num_frame_tokens,
        training_summary=training_summary,
        results=results,
    )


def write_folder_card(folder: str | os.PathLike, training_summary: str, base_model=None) -> ModelCard:
    """Renders and saves `folder/README.md` for a saved checkpoint folder (its config and processor read from it),
    the card naming the folder as its repo id, so its usage snippets run from the folder's parent."""
    import json

    from transformers import AutoConfig

    folder = Path(folder)
    processor_config = json.loads((folder / "processor_config.json").read_text())
    card = render_model_card(
        AutoConfig.from_pretrained(folder),
        repo_id=folder.resolve().name,
        num_frames=processor_config["video_processor"]["num_frames"],
        base_model=base_model,
        training_summary=training_summary,
    )
    card.save(folder / "README.md")
    return card


def _package_install(requirement: str | None) -> str:
    """How the card tells readers to install the V2Xum package: the requirement it can really be installed by
    (given when pushing), else from its source."""
    if requirement:
        return f'pip install "{requirement}"   # the V2Xum package'
    return "pip install .   # in a checkout of the V2Xum source: the V2Xum package"


def card_section(card: ModelCard, title: str) -> str | None:
    """The text of a card's `## title` section (up to the next `## `), or None."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", card.text, flags=re.S | re.M)
    return match.group(1).strip() if match else None


def file_fingerprint(path: str | os.PathLike) -> str:
    """A file's identity, cheap for big files: sha256 of its size, first and last MiB (a byte-identical copy under
    another name has the same fingerprint)."""
    size = os.path.getsize(path)
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        digest.update(f.read(1 << 20))
        if size > 2 << 20:
            f.seek(-(1 << 20), os.SEEK_END)
            digest.update(f.read())
    return digest.hexdigest()[:20]


# The files that hold a folder's weights (a full checkpoint, sharded or not, or an adapter).
_WEIGHT_FILES = ("*.safetensors", "*.bin", "*.safetensors.index.json")


def weights_fingerprint(folder: str | os.PathLike) -> str | None:
    """A checkpoint folder's weights as one fingerprint (`file_fingerprint` of each weight file, in name order), or
    None for a folder without weights (a Hub id)."""
    folder = Path(folder)
    weights = sorted({p for pattern in _WEIGHT_FILES for p in folder.glob(pattern) if p.name != "training_args.bin"})
    if not weights:
        return None
    digest = hashlib.sha256()
    for path in weights:
        digest.update(f"{path.name}:{file_fingerprint(path)}".encode())
    return digest.hexdigest()[:20]


def write_pipeline_card(pipe, save_directory) -> None:
    """`pipe.save_pretrained`'s card (registered by this package): the folder's own, when it has none yet."""
    folder = Path(save_directory)
    if not (folder / "README.md").is_file() and (folder / "processor_config.json").is_file():
        write_folder_card(folder, 'Saved with `pipeline("video-summarization", ...).save_pretrained`.')


__all__ = [
    "write_folder_card",
    "render_model_card",
    "hub_base_models",
    "is_hub_id",
    "source_name",
    "model_card_template",
    "card_section",
    "write_pipeline_card",
    "file_fingerprint",
    "weights_fingerprint",
    "EvalResult",
]
