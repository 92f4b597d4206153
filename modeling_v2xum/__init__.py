# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""V2Xum: cross-modal video summarization as a transformers model (configuration, modeling, keyframe-constrained
generation, the `video-summarization` pipeline, composition and the released-weights converter).

Importing this package registers V2Xum with transformers' Auto classes, so `AutoModelForImageTextToText`,
`AutoModel`, `AutoConfig`, `AutoProcessor` and `AutoVideoProcessor` resolve `model_type="v2xum"` checkpoints, and
marks the classes so that saved checkpoints carry `auto_map` for `trust_remote_code=True` users without the package.
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoProcessor,
    AutoVideoProcessor,
)
from transformers.pipelines import PIPELINE_REGISTRY

from processing import V2XumProcessor, V2XumVideoProcessor

from .composition import compose_v2xum
from .configuration_v2xum import V2XumConfig
from .generation_v2xum import KeyframeLogitsProcessor
from .model_card import write_pipeline_card
from .modeling_v2xum import V2XumForConditionalGeneration, V2XumModel, V2XumPreTrainedModel
from .pipeline_v2xum import SAVE_HOOKS, VideoSummarizationPipeline


AutoConfig.register("v2xum", V2XumConfig, exist_ok=True)
AutoModel.register(V2XumConfig, V2XumModel, exist_ok=True)
AutoModelForImageTextToText.register(V2XumConfig, V2XumForConditionalGeneration, exist_ok=True)
# PEFT's AutoPeftModelForCausalLM loads adapters through AutoModelForCausalLM.
AutoModelForCausalLM.register(V2XumConfig, V2XumForConditionalGeneration, exist_ok=True)
AutoVideoProcessor.register(V2XumConfig, V2XumVideoProcessor, exist_ok=True)
AutoProcessor.register(V2XumConfig, V2XumProcessor, exist_ok=True)

PIPELINE_REGISTRY.register_pipeline(
    "video-summarization",
    pipeline_class=VideoSummarizationPipeline,
    pt_model=AutoModelForImageTextToText,
    type="multimodal",  # no default model: no V2Xum checkpoint is published under a fixed id yet
)

SAVE_HOOKS.append(write_pipeline_card)  # pipe.save_pretrained writes the folder's model card

V2XumConfig.register_for_auto_class()
V2XumModel.register_for_auto_class("AutoModel")
V2XumForConditionalGeneration.register_for_auto_class("AutoModelForImageTextToText")
V2XumProcessor.register_for_auto_class("AutoProcessor")
V2XumVideoProcessor.register_for_auto_class("AutoVideoProcessor")

__all__ = [
    "V2XumConfig",
    "V2XumModel",
    "V2XumPreTrainedModel",
    "V2XumForConditionalGeneration",
    "V2XumProcessor",
    "V2XumVideoProcessor",
    "KeyframeLogitsProcessor",
    "VideoSummarizationPipeline",
    "compose_v2xum",
]
