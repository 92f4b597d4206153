"""V2Xum for vLLM: an out-of-tree model plugin (`vllm.general_plugins`) and the keyframe rule as a logits processor
(`vllm.logits_processors`). See this distribution's README."""

ARCHITECTURE = "V2XumForConditionalGeneration"


def register() -> None:
    """Runs in every vLLM process: the V2Xum configuration and processor for transformers (no remote code needed),
    and the model for vLLM (imported lazily, by name)."""
    from transformers import AutoConfig, AutoProcessor
    from transformers.models.auto.video_processing_auto import VIDEO_PROCESSOR_MAPPING_NAMES
    from vllm import ModelRegistry

    from .checkpoint_code.configuration_v2xum import V2XumConfig
    from .processing import V2XumProcessor

    AutoConfig.register("v2xum", V2XumConfig, exist_ok=True)
    AutoProcessor.register(V2XumConfig, V2XumProcessor, exist_ok=True)
    # vLLM picks a model's video loader by its video processor's name: files are decoded by `V2XumVideoLoader`.
    VIDEO_PROCESSOR_MAPPING_NAMES.setdefault("v2xum", "V2XumVideoProcessor")
    if ARCHITECTURE not in ModelRegistry.get_supported_archs():
        ModelRegistry.register_model(ARCHITECTURE, "v2xum_vllm.model:V2XumForConditionalGeneration")


__all__ = ["ARCHITECTURE", "register"]
