# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Compose a new V2Xum from a CLIP checkpoint and a Llama-family causal LM checkpoint."""

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging

from processing import CHAT_TEMPLATE, V2XumProcessor, V2XumVideoProcessor
from processing.summary import frame_token

from .configuration_v2xum import MAX_TEXT_FRAME_TOKENS, V2XumConfig
from .modeling_v2xum import V2XumForConditionalGeneration, vision_tower_class


logger = logging.get_logger(__name__)


FRAME_PLACEHOLDER_TOKEN = "<frame>"


def add_v2xum_tokens(
    tokenizer: PreTrainedTokenizerBase, num_frame_tokens: int = MAX_TEXT_FRAME_TOKENS
) -> tuple[int | None, int]:
    """Adds `[f00]..[fNN]` (contiguous ids; none for `num_frame_tokens=0`, the `text` style) and the `<frame>`
    placeholder as special tokens.

    Returns `(frame_token_start_id, placeholder_id)`. Raises if the tokenizer already knows one of the tokens with an
    id that breaks contiguity (a range mask would then forbid or allow the wrong tokens).
    """
    frame_tokens = [frame_token(i, "special", num_frame_tokens) for i in range(num_frame_tokens)]
    tokenizer.add_tokens(frame_tokens, special_tokens=True)
    tokenizer.add_tokens([FRAME_PLACEHOLDER_TOKEN], special_tokens=True)
    ids = tokenizer.convert_tokens_to_ids(frame_tokens)
    if ids and ids != list(range(ids[0], ids[0] + num_frame_tokens)):
        raise ValueError(
            f"The tokenizer gave {frame_tokens[0]}..{frame_tokens[-1]} non-contiguous ids ({ids[:3]}...); "
            "start from a tokenizer that does not already contain some of them."
        )
    return (ids[0] if ids else None), tokenizer.convert_tokens_to_ids(FRAME_PLACEHOLDER_TOKEN)


FRAME_TOKEN_INITS = ("mean", "spelled")


def add_v2xum_token_rows(
    language_model,
    tokenizer: PreTrainedTokenizerBase,
    num_frame_tokens: int = MAX_TEXT_FRAME_TOKENS,
    init: str = "mean",
) -> tuple[int | None, int]:
    """`add_v2xum_tokens`, plus the language model's new embedding (and untied `lm_head`) rows.

    `init="mean"`: new rows start at the mean of the existing rows, a neutral start (random rows would dominate the
    softmax). `init="spelled"`: each `[fNN]` row starts at the mean of the rows of its spelling's tokens (`[`,
    `f`, `03`, `]` as the LM tokenized them before), so a pretrained LM starts from something it can read. The
    placeholder's input row is always overwritten by visual features, but `inputs_embeds` callers find the
    placeholders by comparing rows, so it is moved one standard deviation away from the mean.
    """
    if init not in FRAME_TOKEN_INITS:
        raise ValueError(f"init must be one of {FRAME_TOKEN_INITS}, got {init!r}")
    spellings = [
        tokenizer(frame_token(i, "special", num_frame_tokens), add_special_tokens=False)["input_ids"]
        for i in range(num_frame_tokens)
    ]
    num_old_rows = language_model.get_input_embeddings().weight.shape[0]
    frame_token_start_id, placeholder_id = add_v2xum_tokens(tokenizer, num_frame_tokens)
    language_model.resize_token_embeddings(max(len(tokenizer), num_old_rows), mean_resizing=False)
    weights = [language_model.get_input_embeddings().weight]
    if not language_model.config.tie_word_embeddings:
        weights.append(language_model.get_output_embeddings().weight)
    with torch.no_grad():
        for weight in weights:
            mean = weight[:num_old_rows].mean(dim=0, keepdim=True)
            weight[num_old_rows:] = mean
            if init == "spelled":
                for offset, ids in enumerate(spellings):
                    weight[frame_token_start_id + offset] = weight[ids].mean(dim=0) if ids else mean[0]
        weights[0][placeholder_id] = weights[0][:num_old_rows].mean(dim=0) + weights[0][:num_old_rows].std(dim=0)
    return frame_token_start_id, placeholder_id


def _load_vision_tower(name_or_path: str, vision_feature_mode: str, dtype: torch.dtype | None, **hub_kwargs):
    """The vision tower from a vision-only or a full (text + vision) checkpoint, such as openai/clip-vit-large-patch14.

    A full CLIP keeps `projection_dim` at its top level; it is copied into the vision config so that
    `visual_projection` loads with its real shape instead of being re-initialised.
    """
    config = AutoConfig.from_pretrained(name_or_path, **hub_kwargs)
    vision_config = getattr(config, "vision_config", config)
    if getattr(config, "projection_dim", None) is not None and vision_config is not config:
        vision_config.projection_dim = config.projection_dim
    tower_class = vision_tower_class(vision_feature_mode, vision_config)
    return tower_class.from_pretrained(name_or_path, config=vision_config, dtype=dtype, **hub_kwargs)


def assemble_v2xum(
    config: V2XumConfig, vision_tower: torch.nn.Module, language_model: torch.nn.Module
) -> V2XumForConditionalGeneration:
    """A V2Xum around an existing vision tower and causal LM (their modules are moved in, not copied: the shell is
    built on the meta device, so a 7B decoder is never held twice). The projector is allocated but not initialised."""
    with torch.device("meta"):
        model = V2XumForConditionalGeneration(config)
    model.model.vision_tower = vision_tower
    model.model.language_model = language_model.model
    model.lm_head = language_model.lm_head
    projector = model.model.multi_modal_projector.to_empty(device=language_model.device)
    projector.to(language_model.dtype)
    if config.tie_word_embeddings:
        model.tie_weights()
    return model


def _init_projector(projector: torch.nn.Module, std: float) -> None:
    """A fresh projector: normal weights of the decoder's `initializer_range`, zero biases, empty norm statistics."""
    for module in projector.modules():
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, torch.nn.BatchNorm1d):
            module.reset_running_stats()


def untie_output_embeddings(language_model) -> None:
    """Gives a tied-embedding LM (SmolLM2, Llama-3.2-1B, Qwen2.5-0.5B, Gemma) its own `lm_head` weight, a copy of
    the input embedding. Costs vocabulary x hidden parameters; buys a head whose new rows train on their own, which
    LoRA needs (the head is saved whole with the adapter, and TRL's fused head reads it as a plain Linear)."""
    head = language_model.get_output_embeddings()
    head.weight = torch.nn.Parameter(language_model.get_input_embeddings().weight.detach().clone())
    language_model.config.tie_word_embeddings = False
    if hasattr(language_model.config, "get_text_config"):
        language_model.config.get_text_config().tie_word_embeddings = False


def compose_v2xum(
    vision_model_name_or_path: str,
    language_model_name_or_path: str,
    *,
    vision_feature_mode: str = "image_embeds",
    projector_type: str = "linear",
    projector_feature_norm: bool = False,
    pooled_patch_grid: int = 2,
    vision_feature_layer: int = -2,
    num_frame_tokens: int = MAX_TEXT_FRAME_TOKENS,
    temporal_prompt_style: str = "special",
    untie_word_embeddings: bool = True,
    frame_token_init: str = "mean",
    dtype: torch.dtype | None = None,
    **hub_kwargs,
) -> tuple[V2XumForConditionalGeneration, PreTrainedTokenizerBase]:
    """Builds a new V2Xum from pretrained parts; every architecture choice of `V2XumConfig` is a parameter.

    The vision tower and decoder keep their pretrained weights. With `temporal_prompt_style="special"`,
    `[f00]..[fNN]` and `<frame>` are added to the LM's tokenizer with contiguous ids (`"text"`: only `<frame>`;
    frames are then named with digits the LM already knows, `[03]`, as the released model did, at most 100). New
    embedding and `lm_head` rows start as `frame_token_init` says (`add_v2xum_token_rows`); the projector is
    initialised from the decoder's `initializer_range`. A tied-embedding LM is untied (`untie_output_embeddings`)
    unless `untie_word_embeddings=False` (then full fine-tuning only). Each name is a local directory or a Hub id;
    `hub_kwargs` (e.g. `revision`) go to every `from_pretrained`.

    Returns the model and the tokenizer (left padding, a pad token), ready for `v2xum_processor_for`.
    """
    if temporal_prompt_style not in ("special", "text"):
        raise ValueError(f"temporal_prompt_style must be 'special' or 'text', got {temporal_prompt_style!r}")
    tokenizer = AutoTokenizer.from_pretrained(language_model_name_or_path, **hub_kwargs)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    language_model = AutoModelForCausalLM.from_pretrained(language_model_name_or_path, dtype=dtype, **hub_kwargs)
    vision_tower = _load_vision_tower(vision_model_name_or_path, vision_feature_mode, dtype, **hub_kwargs)
    if untie_word_embeddings and language_model.config.tie_word_embeddings:
        untie_output_embeddings(language_model)

    special = temporal_prompt_style == "special"
    frame_token_start_id, placeholder_id = add_v2xum_token_rows(
        language_model, tokenizer, num_frame_tokens if special else 0, frame_token_init
    )
    config = V2XumConfig(
        vision_config=vision_tower.config.to_dict(),
        text_config=language_model.config.to_dict(),
        video_token_index=placeholder_id,
        frame_token_start_id=frame_token_start_id,
        num_frame_tokens=num_frame_tokens if special else min(num_frame_tokens, MAX_TEXT_FRAME_TOKENS),
        temporal_prompt_style=temporal_prompt_style,
        vision_feature_mode=vision_feature_mode,
        vision_feature_layer=vision_feature_layer,
        pooled_patch_grid=pooled_patch_grid,
        projector_type=projector_type,
        projector_feature_norm=projector_feature_norm,
        tie_word_embeddings=language_model.config.tie_word_embeddings,
    )
    model = assemble_v2xum(config, vision_tower, language_model)
    _init_projector(model.model.multi_modal_projector, std=getattr(config.text_config, "initializer_range", 0.02))
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
        max_new_tokens=512,
    )
    return model, tokenizer


CHAT_TEMPLATES = ("v2xum", "language_model")


def v2xum_processor_for(
    model_config: V2XumConfig,
    tokenizer: PreTrainedTokenizerBase,
    num_frames: int | None = None,
    chat_template: str = "v2xum",
) -> V2XumProcessor:
    """The processor that matches a model: CLIP preprocessing at the tower's image size, the placeholder count per
    frame and the temporal prompt style of `model_config`; `num_frames` defaults to the video processor's.

    `chat_template`: `"v2xum"` (the released model's Vicuna v1 template and system prompt; it replaces the LM's
    own, and a warning says so) or `"language_model"` (keep the LM's own template, e.g. SmolLM2's ChatML, which its
    pretraining knows). The processor saves the one it uses (`chat_template.jinja`)."""
    if chat_template not in CHAT_TEMPLATES:
        raise ValueError(f"chat_template must be one of {CHAT_TEMPLATES}, got {chat_template!r}")
    own = getattr(tokenizer, "chat_template", None)
    if chat_template == "language_model" and not own:
        raise ValueError("chat_template='language_model', but the language model's tokenizer has no chat template")
    if chat_template == "v2xum" and own and own != CHAT_TEMPLATE:
        logger.warning(
            "The language model's own chat template is replaced by V2Xum's Vicuna v1 template "
            "(chat_template='language_model' keeps it)"
        )
    size = model_config.vision_config.image_size
    # The video processor's default frame count, unless the model names fewer frames.
    num_frames = num_frames or min(V2XumVideoProcessor.num_frames, model_config.num_frame_tokens)
    frames = {"num_frames": num_frames}
    video_processor = V2XumVideoProcessor(
        size={"shortest_edge": size}, crop_size={"height": size, "width": size}, **frames
    )
    return V2XumProcessor(
        video_processor=video_processor,
        tokenizer=tokenizer,
        chat_template=own if chat_template == "language_model" else None,
        num_video_tokens_per_frame=model_config.num_video_tokens_per_frame,
        temporal_prompt_style=model_config.temporal_prompt_style,
        num_frame_tokens=model_config.num_frame_tokens,
    )


__all__ = [
    "compose_v2xum",
    "assemble_v2xum",
    "v2xum_processor_for",
    "add_v2xum_tokens",
    "add_v2xum_token_rows",
    "untie_output_embeddings",
    "CHAT_TEMPLATES",
    "FRAME_PLACEHOLDER_TOKEN",
    "FRAME_TOKEN_INITS",
]
