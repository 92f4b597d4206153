# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Model cards rendered from the repository's `model_card.md` template (huggingface_hub `ModelCard`)."""

import os
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

from modeling_v2xum.configuration_v2xum import is_hub_id
from processing import frame_token

from . import PACKAGE_REQUIREMENT
from .resources import model_card_template


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
        package_requirement=PACKAGE_REQUIREMENT,
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


__all__ = ["write_folder_card", "render_model_card", "hub_base_models", "is_hub_id", "source_name"]
