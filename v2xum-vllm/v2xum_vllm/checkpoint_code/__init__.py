"""The remote-code files every V2Xum checkpoint ships (`modeling_v2xum.remote_code.save_remote_code` writes them here
too, and a test holds them equal to their sources).

Why the plugin carries them instead of depending on the `v2xum` package: vLLM 0.32 pins transformers < 5.20 and
torch 2.13, and installs no torchvision that runs beside its CPU torch, while the package's video processor builds on
transformers' torchvision-based `BaseVideoProcessor`. These files import under vLLM's stack; the plugin uses the
configuration, the keyframe rule, the decoder, the timeline, the chat template and the answer parser from them, and
ports only the last steps of frame preprocessing (`v2xum_vllm.processing.pixel_values`).
"""
