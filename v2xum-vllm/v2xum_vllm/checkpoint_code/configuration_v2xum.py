# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""V2Xum model configuration."""

import copy
import os
import re
from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.utils import logging


try:
    from transformers.configuration_utils import SubConfigSpec
except ImportError:  # transformers < 5.20 (the one vLLM 0.32 pins) declares sub-configs as `sub_configs`
    SubConfigSpec = None


logger = logging.get_logger(__name__)

# A `special` model may have up to 1000 frame tokens ([f000]..[f999] above 100, see processing.summary.frame_token);
# the released `text` style writes two digits ([00]..[99]) and stays at 100.
MAX_FRAME_TOKENS = 1000
MAX_TEXT_FRAME_TOKENS = 100
# `org/name` or `name`: a Hub id, as opposed to a local folder (which means nothing on another machine).
_HUB_ID = re.compile(r"\w[\w.-]*(/\w[\w.-]*)?")
# The pipeline a V2Xum folder declares (`config.custom_pipelines`): the task and its class in `pipeline_v2xum.py`,
# for `pipeline(model=folder, trust_remote_code=True)` without this package.
PIPELINE_TASK = "video-summarization"
CUSTOM_PIPELINES = {
    PIPELINE_TASK: {
        "impl": "pipeline_v2xum.VideoSummarizationPipeline",
        "pt": ["AutoModelForImageTextToText"],
        "type": "multimodal",
    }
}
# Sub-config -> the model type a dict without one (or None) gets: a CLIP vision tower and a Llama decoder.
SUB_CONFIG_TYPES = {"vision_config": "clip_vision_model", "text_config": "llama"}
# The classes a V2Xum folder declares for `trust_remote_code=True` users (files shipped by `remote_code.py`).
AUTO_MAP = {
    "AutoConfig": "configuration_v2xum.V2XumConfig",
    "AutoModel": "modeling_v2xum.V2XumModel",
    "AutoModelForCausalLM": "modeling_v2xum.V2XumForConditionalGeneration",
    "AutoModelForImageTextToText": "modeling_v2xum.V2XumForConditionalGeneration",
}


def check_vision_feature_mode(vision_feature_mode: str, vision_config: PreTrainedConfig) -> None:
    """`image_embeds` reads CLIP's projected image embedding, which only a CLIP vision tower has."""
    if vision_feature_mode == "image_embeds" and vision_config.model_type != "clip_vision_model":
        raise ValueError(
            "vision_feature_mode='image_embeds' needs a CLIP vision tower (its projected image embedding); "
            f"got a '{vision_config.model_type}' config. Use vision_feature_mode='patch_pooled'."
        )


def is_hub_id(name: str | os.PathLike | None) -> bool:
    """Whether `name` reads as a Hub repository id (`org/name` or `name`) and is not a local path."""
    return bool(name) and _HUB_ID.fullmatch(os.fspath(name)) is not None and not os.path.exists(name)


def _pipeline_registered() -> bool:
    from transformers.pipelines import PIPELINE_REGISTRY

    return PIPELINE_TASK in PIPELINE_REGISTRY.get_supported_tasks()


@strict
class V2XumConfig(PreTrainedConfig):
    r"""
    Configuration of a V2Xum model: a vision tower, a projector and a Llama-family decoder that reads frames
    interleaved with temporal prompts (`[f00] <frame> [f01] <frame> ...`) and writes a video summary, a text
    summary or both.

    Args:
        vision_config (`dict` or `PreTrainedConfig`, *optional*):
            Config of the vision tower, a CLIP vision config by default.
        text_config (`dict` or `PreTrainedConfig`, *optional*):
            Config of the decoder, a Llama config by default.
        video_token_index (`int`, defaults to 32000):
            Id of the placeholder token whose embeddings are replaced by projected visual features.
            Aliased as `video_token_id`.
        frame_token_start_id (`int`, *optional*):
            Id of `[f00]`. `[f00]..[f{num_frame_tokens-1}]` must occupy the contiguous ids starting here, which makes
            keyframe-constrained decoding a range mask. Required for the `special` temporal prompt style.
        num_frame_tokens (`int`, defaults to 100):
            Number of temporal prompt tokens, hence the maximum number of frames per video: at most 1000 for the
            `special` style (spelled `[f000]`..`[f999]` above 100), at most 100 for the `text` style.
        temporal_prompt_style (`"special"` or `"text"`, defaults to `"special"`):
            `special`: each `[fNN]` is one added token the model can generate as a keyframe id.
            `text`: `[NN]` is written as plain text, as the released V2Xum-LLaMA was trained; keyframes are then
            generated as text (`sentence [03, 04, 05].`).
        vision_feature_mode (`"image_embeds"` or `"patch_pooled"`, defaults to `"image_embeds"`):
            `image_embeds`: one token per frame, the tower's projected image embedding (CLIP `image_embeds`),
            as in the released V2Xum-LLaMA. `patch_pooled`: `pooled_patch_grid**2` tokens per frame, the patch
            tokens of `vision_feature_layer` (CLS dropped) average-pooled to a square grid.
        vision_feature_layer (`int`, defaults to -2):
            Hidden layer of the tower used by `patch_pooled`.
        pooled_patch_grid (`int`, defaults to 2):
            Side of the pooled patch grid for `patch_pooled`.
        projector_type (`"linear"` or `"mlp2x_gelu"`, defaults to `"linear"`):
            `linear` is the released single `Linear(768, 4096)`; `mlp2x_gelu` is LLaVA-1.5's two-layer MLP.
        projector_bias (`bool`, defaults to `True`):
            Whether the projector's linear layers have a bias.
        projector_feature_norm (`bool`, defaults to `False`):
            Standardize each feature channel (BatchNorm running statistics, no affine) before the projector. For
            towers whose tokens share a large constant component (small or from-scratch towers on simple images),
            where the decoder otherwise cannot find the signal.

    Example:

    ```python
    >>> from modeling_v2xum import V2XumConfig, V2XumForConditionalGeneration
    >>> config = V2XumConfig.released_v2xum_llama()  # CLIP ViT-L/14 + Linear(768, 4096) + Vicuna-7B shapes
    >>> config.num_video_tokens_per_frame
    1
    ```
    """

    model_type = "v2xum"
    attribute_map = {"video_token_id": "video_token_index", "image_token_id": "video_token_index"}
    if SubConfigSpec is not None:
        sub_configs_defaults = {
            key: SubConfigSpec(config_class=AutoConfig, model_type=model_type)
            for key, model_type in SUB_CONFIG_TYPES.items()
        }
    else:
        sub_configs = dict.fromkeys(SUB_CONFIG_TYPES, AutoConfig)
    # `V2XumConfig()` alone is not valid (a `special` model needs its [f00] id): transformers < 5.20 must not build
    # one to find the defaults when it saves.
    has_no_defaults_at_init = True

    vision_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    video_token_index: int = 32000
    frame_token_start_id: int | None = None
    num_frame_tokens: int = MAX_TEXT_FRAME_TOKENS
    temporal_prompt_style: Literal["special", "text"] = "special"
    vision_feature_mode: Literal["image_embeds", "patch_pooled"] = "image_embeds"
    vision_feature_layer: int = -2
    pooled_patch_grid: int = 2
    projector_type: Literal["linear", "mlp2x_gelu"] = "linear"
    projector_bias: bool = True
    projector_feature_norm: bool = False
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        for key, default_type in SUB_CONFIG_TYPES.items():  # what transformers >= 5.20 does itself, for older ones
            value = getattr(self, key)
            if not isinstance(value, PreTrainedConfig):
                value = dict(value or {})
                setattr(self, key, CONFIG_MAPPING[value.setdefault("model_type", default_type)](**value))
        super().__post_init__(**kwargs)
        # Llama-family checkpoints keep `tie_word_embeddings` in the text config.
        if not self.tie_word_embeddings and getattr(self.text_config, "tie_word_embeddings", False):
            self.tie_word_embeddings = True
        # With the package imported the task is registered, and a declared custom pipeline would make
        # `pipeline("video-summarization", model=folder)` demand trust_remote_code: the loaded config leaves it
        # out. Without the package (remote code), every folder declares its pipeline. What is saved is the same
        # either way (`to_diff_dict`).
        if _pipeline_registered():
            self.__dict__.pop("custom_pipelines", None)
        else:
            self.custom_pipelines = copy.deepcopy(CUSTOM_PIPELINES)  # transformers edits it in place
        self.auto_map = dict(AUTO_MAP)

    def to_diff_dict(self) -> dict:
        """What `config.json` holds: the settings, and always the remote code that loads them (`AUTO_MAP`, the
        `video-summarization` pipeline), whether or not this package is imported. A sub-config keeps the name it was
        loaded from only when that is a Hub id: local and temporary paths mean nothing elsewhere."""
        data = super().to_diff_dict()
        data["auto_map"] = dict(AUTO_MAP)
        data["custom_pipelines"] = copy.deepcopy(CUSTOM_PIPELINES)
        for key in ("vision_config", "text_config"):
            if isinstance(data.get(key), dict) and not is_hub_id(data[key].get("_name_or_path")):
                data[key].pop("_name_or_path", None)
        return data

    @property
    def num_video_tokens_per_frame(self) -> int:
        """Placeholder tokens per frame: what the processor must write and what `get_video_features` produces."""
        return 1 if self.vision_feature_mode == "image_embeds" else self.pooled_patch_grid**2

    @property
    def vision_feature_dim(self) -> int:
        """Width of the per-frame visual features fed to the projector."""
        if self.vision_feature_mode == "image_embeds":
            return getattr(self.vision_config, "projection_dim", None) or self.vision_config.hidden_size
        return self.vision_config.hidden_size

    @property
    def frame_token_ids(self) -> range:
        """Ids of `[f00]..[fNN]` (empty for the `text` temporal prompt style)."""
        if self.frame_token_start_id is None:
            return range(0)
        return range(self.frame_token_start_id, self.frame_token_start_id + self.num_frame_tokens)

    def validate_v2xum(self):
        """Part of `@strict` validation: token ranges, modes and sizes that the model relies on."""
        vocab_size = self.text_config.vocab_size
        limit = MAX_FRAME_TOKENS if self.temporal_prompt_style == "special" else MAX_TEXT_FRAME_TOKENS
        if not 1 <= self.num_frame_tokens <= limit:
            raise ValueError(
                f"num_frame_tokens must be between 1 and {limit} for temporal_prompt_style="
                f"'{self.temporal_prompt_style}', got {self.num_frame_tokens}."
            )
        if not 0 <= self.video_token_index < vocab_size:
            raise ValueError(
                f"video_token_index={self.video_token_index} is outside the text vocabulary (size {vocab_size})."
            )
        if self.temporal_prompt_style == "special":
            if self.frame_token_start_id is None:
                raise ValueError(
                    "temporal_prompt_style='special' needs frame_token_start_id (the id of [f00]); "
                    "use compose_v2xum() to add the tokens, or temporal_prompt_style='text'."
                )
            if self.frame_token_start_id < 0 or self.frame_token_start_id + self.num_frame_tokens > vocab_size:
                raise ValueError(
                    f"Frame tokens [{self.frame_token_start_id}, {self.frame_token_start_id + self.num_frame_tokens}) "
                    f"do not fit the text vocabulary (size {vocab_size})."
                )
            if self.video_token_index in self.frame_token_ids:
                raise ValueError(
                    f"video_token_index={self.video_token_index} lies inside the frame token range "
                    f"[{self.frame_token_ids.start}, {self.frame_token_ids.stop})."
                )
        if self.vision_feature_mode == "patch_pooled":
            patches_per_side = self.vision_config.image_size // self.vision_config.patch_size
            if not 1 <= self.pooled_patch_grid <= patches_per_side:
                raise ValueError(
                    f"pooled_patch_grid must be between 1 and the tower's {patches_per_side} patches per side, "
                    f"got {self.pooled_patch_grid}."
                )
        check_vision_feature_mode(self.vision_feature_mode, self.vision_config)

    @classmethod
    def released_v2xum_llama(cls, **kwargs) -> "V2XumConfig":
        """The released V2Xum-LLaMA: CLIP ViT-L/14 at 224 px, 768-d image embedding per frame, `Linear(768, 4096)`,
        Vicuna-7B-v1.5 plus one added placeholder token, `[NN]` temporal prompts written as text."""
        vision_config = {
            "model_type": "clip_vision_model",
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "image_size": 224,
            "patch_size": 14,
            "projection_dim": 768,
            "hidden_act": "quick_gelu",
        }
        text_config = {
            "model_type": "llama",
            "vocab_size": 32001,
            "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-5,
        }
        defaults = {
            "vision_config": vision_config,
            "text_config": text_config,
            "video_token_index": 32000,
            "temporal_prompt_style": "text",
            "vision_feature_mode": "image_embeds",
            "projector_type": "linear",
        }
        return cls(**(defaults | kwargs))


__all__ = [
    "AUTO_MAP",
    "is_hub_id",
    "V2XumConfig",
    "MAX_FRAME_TOKENS",
    "MAX_TEXT_FRAME_TOKENS",
    "check_vision_feature_mode",
]
