# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""The StoryBoard demo model: a small V2Xum with a word-level tokenizer over the generator's vocabulary, trained on
CPU with `train_sft.py --config configs/storyboard_tiny.yaml`, and `v2xum demo`."""

import os
import re
import tempfile
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from processing import SYSTEM_PROMPT, TASK_INSTRUCTIONS
from processing.storyboard import COLOURS, MOTIONS, SHAPES, SIZES

from .composition import compose_v2xum, v2xum_processor_for
from .tiny import write_tiny_parts


REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_MODEL_DIR = REPO_ROOT / "examples" / "storyboard-demo"
DEMO_NUM_FRAMES = 32
_WORDS = re.compile(r"\w+|[^\w\s]+")


def storyboard_tokenizer() -> PreTrainedTokenizerFast:
    """Word level: every word of the prompts and of StoryBoard sentences is one token."""
    corpus = [SYSTEM_PROMPT, *TASK_INSTRUCTIONS.values(), "USER: ASSISTANT: A a .",
              " ".join([*SHAPES, *COLOURS, *SIZES, *MOTIONS])]
    words = sorted({w for text in corpus for w in _WORDS.findall(text)})
    specials = ["<unk>", "<s>", "</s>", "<pad>"]
    vocab = {token: i for i, token in enumerate(specials + words)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )


def write_storyboard_base(out_dir: str | os.PathLike, seed: int = 0) -> Path:
    """The untrained demo model: a frozen random CLIP-style tower on 32 px frames (2x2 pooled patch tokens, so
    position and motion are visible; standardized features, without which the decoder never found the object in
    the mostly-background tokens) and a 4-layer Llama-style decoder, composed like any V2Xum, with its processor."""
    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as parts:
        vision_dir, text_dir = write_tiny_parts(
            parts,
            tokenizer=storyboard_tokenizer(),
            vision={"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 3, "num_attention_heads": 4,
                    "image_size": 32, "patch_size": 8, "projection_dim": 64},
            text={"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
                  "num_key_value_heads": 4, "max_position_embeddings": 1024},
        )
        model, tokenizer = compose_v2xum(str(vision_dir), str(text_dir), vision_feature_mode="patch_pooled",
                                         vision_feature_layer=-1, projector_type="mlp2x_gelu",
                                         projector_feature_norm=True)
    model.generation_config.max_new_tokens = 64
    processor = v2xum_processor_for(model.config, tokenizer, num_frames=DEMO_NUM_FRAMES)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


__all__ = ["storyboard_tokenizer", "write_storyboard_base", "DEMO_MODEL_DIR", "DEMO_NUM_FRAMES"]
