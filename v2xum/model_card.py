# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Model cards rendered from the repository's `model_card.md` template (huggingface_hub `ModelCard`)."""

import os

from huggingface_hub import ModelCard, ModelCardData

from processing import frame_token

from .resources import model_card_template


def render_model_card(
    config,
    repo_id: str,
    base_model: str | list[str] | None = None,
    vision_model: str | None = None,
    language_model: str | None = None,
    datasets: list[str] | None = None,
    training_summary: str = "Not trained by this package.",
    results: str = "No evaluation results yet.",
    num_frames: int | None = None,
    vision_tower_trained: bool = False,
    license: str = "apache-2.0",
    eval_results: list | None = None,
    template_path: str | os.PathLike | None = None,
) -> ModelCard:
    """A card for a V2Xum checkpoint with `config`: metadata (base models, datasets, licence, pipeline tag, and
    `model-index` from `eval_results`, a list of `huggingface_hub.EvalResult`) and the template's sections."""
    card_data = ModelCardData(
        base_model=base_model,
        datasets=datasets or None,
        eval_results=eval_results or None,
        model_name=repo_id.split("/")[-1],
        license=license,
        library_name="transformers",
        pipeline_tag="video-text-to-text",
        tags=["v2xum", "video-summarization", "video-llm"],
    )
    style = config.temporal_prompt_style
    return ModelCard.from_template(
        card_data,
        template_path=os.fspath(template_path or model_card_template()),
        model_name=repo_id.split("/")[-1],
        repo_id=repo_id,
        temporal_prompt_example=f"{frame_token(0, style)} <frame> {frame_token(1, style)} <frame> ...",
        vision_model=vision_model or config.vision_config._name_or_path or config.vision_config.model_type,
        vision_tower_state="fine-tuned" if vision_tower_trained else "frozen",
        vision_feature_mode=config.vision_feature_mode,
        tokens_per_frame=config.num_video_tokens_per_frame,
        projector_type=config.projector_type,
        language_model=language_model or config.text_config._name_or_path or config.text_config.model_type,
        num_frames=num_frames or config.num_frame_tokens,
        training_summary=training_summary,
        results=results,
    )


__all__ = ["render_model_card"]
