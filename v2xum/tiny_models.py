# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Tiny random-weight V2Xum checkpoints and their parts, built offline in seconds: `v2xum init-tiny`, the
StoryBoard demo model's untrained base, tests and users' CI. Composed through `compose_v2xum`, the path real
checkpoints take."""

import os
import tempfile
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from modeling_v2xum.composition import compose_v2xum, v2xum_processor_for
from modeling_v2xum.remote_code import save_v2xum_folder
from processing import SYSTEM_PROMPT, TASK_INSTRUCTIONS


TINY_IMAGE_SIZE = 32
_CORPUS = [
    SYSTEM_PROMPT,
    *TASK_INSTRUCTIONS.values(),
    "USER: ASSISTANT: A man talks to the camera. He pours water into a pot and stirs it with a spoon.",
    "A red circle moves left. A blue square appears in the middle. The screen is dark. Then a green star grows.",
    "Focus on what the video shows about: people, objects, colours, motion, shapes, scenes, cooking, sports.",
    "0 1 2 3 4 5 6 7 8 9 [00] [01] [99], ; : ! ? ' \" ( ) - the a an of in on at to and with from is are was",
]


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE (any text round-trips) trained on a small fixed corpus: deterministic, a few hundred ids."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=384,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS * 4, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )


def write_tiny_parts(
    parts_dir: str | os.PathLike,
    tokenizer: PreTrainedTokenizerFast | None = None,
    vision: dict | None = None,
    text: dict | None = None,
) -> tuple[Path, Path]:
    """Writes a small random CLIP vision tower (`parts_dir/clip`) and a small random Llama with its tokenizer
    (`parts_dir/llama`): the two pretrained parts `compose_v2xum` (and `train_sft.py --vision_model
    --language_model`) start from. `vision` / `text` override the (tiny) config sizes."""
    vision_dir, text_dir = Path(parts_dir, "clip"), Path(parts_dir, "llama")
    vision_config = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": TINY_IMAGE_SIZE,
        "patch_size": 8,
        "projection_dim": 24,
    } | (vision or {})
    CLIPVisionModelWithProjection(CLIPVisionConfig(**vision_config)).save_pretrained(vision_dir)
    tokenizer = tokenizer or tiny_tokenizer()
    text_config = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
    } | (text or {})
    text = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **text_config,
        )
    )
    text.save_pretrained(text_dir)
    tokenizer.save_pretrained(text_dir)
    return vision_dir, text_dir


def write_tiny_checkpoint(
    out_dir: str | os.PathLike,
    vision_feature_mode: str = "image_embeds",
    projector_type: str = "linear",
    num_frames: int = 8,
    seed: int = 0,
    num_frame_tokens: int = 100,
    head_dim: int | None = None,
) -> Path:
    """Writes a tiny V2Xum checkpoint (model, generation config, processor, tokenizer) to `out_dir`.

    It is composed from a tiny CLIP vision tower and a tiny Llama through `compose_v2xum`, the same path a real
    checkpoint takes; weights are random (seeded). The video processor samples `num_frames` frames of 32x32.
    `head_dim`: the language model's attention head size (default 8); serving engines' kernels accept only some
    (vLLM's CPU attention: 32, 64, 80, 96, 112, 128 and up), so a checkpoint for them is made with e.g. 32: two
    heads of it, one key-value head.
    """
    if head_dim is not None and (head_dim <= 0 or head_dim % 2):
        raise ValueError(
            f"head_dim must be a positive even number (rotary embeddings pair dimensions), got {head_dim}"
        )
    text = None
    if head_dim is not None:
        text = {"hidden_size": 2 * head_dim, "intermediate_size": 4 * head_dim}
        text |= {"num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": head_dim}
    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as parts:
        vision_dir, text_dir = write_tiny_parts(parts, text=text)
        model, tokenizer = compose_v2xum(
            str(vision_dir),
            str(text_dir),
            vision_feature_mode=vision_feature_mode,
            projector_type=projector_type,
            num_frame_tokens=num_frame_tokens,
        )
    model.generation_config.max_new_tokens = 32
    processor = v2xum_processor_for(model.config, tokenizer, num_frames=num_frames)
    save_v2xum_folder(out_dir, model, processor)
    return out_dir


__all__ = ["tiny_tokenizer", "write_tiny_parts", "write_tiny_checkpoint", "TINY_IMAGE_SIZE"]
