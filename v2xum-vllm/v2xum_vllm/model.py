"""V2Xum inside vLLM: the checkpoint's vision tower and projector (transformers modules, as the package builds them),
the decoder through vLLM's own implementation of the text config's architecture (Llama for V2Xum-LLaMA)."""

from collections.abc import Iterable

import torch
from torch import nn
from vllm.config import VllmConfig
from vllm.model_executor.models.interfaces import MultiModalEmbeddings, SupportsMultiModal
from vllm.model_executor.models.utils import AutoWeightsLoader, WeightsMapper, init_vllm_registered_model, maybe_prefix
from vllm.multimodal import MULTIMODAL_REGISTRY
from vllm.sequence import IntermediateTensors

from .checkpoint_code.modeling_v2xum import V2XumMultiModalProjector, frame_features, vision_tower_class
from .processing import V2XumDummyInputsBuilder, V2XumMultiModalProcessor, V2XumProcessingInfo


@MULTIMODAL_REGISTRY.register_processor(
    V2XumMultiModalProcessor, info=V2XumProcessingInfo, dummy_inputs=V2XumDummyInputsBuilder
)
class V2XumForConditionalGeneration(nn.Module, SupportsMultiModal):
    # The package's checkpoints (either feature mode: the tower is CLIPVisionModelWithProjection or the plain vision
    # model; both keep their names under `vision_tower.`).
    hf_to_vllm_mapper = WeightsMapper(
        orig_to_new_prefix={
            "model.language_model.": "language_model.model.",
            "model.vision_tower.": "vision_tower.",
            "model.multi_modal_projector.": "multi_modal_projector.",
            "lm_head.": "language_model.lm_head.",
        }
    )

    @classmethod
    def get_placeholder_str(cls, modality: str, i: int) -> str | None:
        if modality.startswith("video"):
            return "<frame>"
        raise ValueError("V2Xum takes videos only")

    def __init__(self, *, vllm_config: VllmConfig, prefix: str = ""):
        super().__init__()
        config = vllm_config.model_config.hf_config
        self.config = config
        text_architectures = getattr(config.text_config, "architectures", None) or ["LlamaForCausalLM"]
        with self._mark_tower_model(vllm_config, "video"):
            tower = vision_tower_class(config.vision_feature_mode, config.vision_config)
            self.vision_tower = tower._from_config(config.vision_config, dtype=vllm_config.model_config.dtype)
            self.multi_modal_projector = V2XumMultiModalProjector(config)
        with self._mark_language_model(vllm_config):
            self.language_model = init_vllm_registered_model(
                vllm_config=vllm_config,
                hf_config=config.text_config,
                prefix=maybe_prefix(prefix, "language_model"),
                architectures=text_architectures,
            )
        self.make_empty_intermediate_tensors = self.language_model.make_empty_intermediate_tensors

    def embed_multimodal(self, **kwargs: object) -> MultiModalEmbeddings:
        videos = kwargs.get("pixel_values_videos")
        if videos is None:
            return []
        videos = list(videos) if isinstance(videos, torch.Tensor) else videos
        frames = torch.cat(list(videos)).to(self.multi_modal_projector.linear_1.weight.dtype)
        features = self.multi_modal_projector(frame_features(self.vision_tower, self.config, frames))
        return [chunk.flatten(0, 1) for chunk in torch.split(features, [len(v) for v in videos])]

    def forward(
        self,
        input_ids: torch.Tensor | None,
        positions: torch.Tensor,
        intermediate_tensors: IntermediateTensors | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: object,
    ) -> torch.Tensor | IntermediateTensors:
        if intermediate_tensors is not None:
            inputs_embeds = None
        return self.language_model.model(input_ids, positions, intermediate_tensors, inputs_embeds=inputs_embeds)

    def compute_logits(self, hidden_states: torch.Tensor) -> torch.Tensor | None:
        return self.language_model.compute_logits(hidden_states)

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> set[str]:
        return AutoWeightsLoader(self).load_weights(weights, mapper=self.hf_to_vllm_mapper)


__all__ = ["V2XumForConditionalGeneration"]
