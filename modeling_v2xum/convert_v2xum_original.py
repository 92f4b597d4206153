# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Convert the released V2Xum-LLaMA (Vicuna-7B-v1.5 + stage-1 `mm_projector.bin` + stage-2 LoRA + OpenAI CLIP
ViT-L/14) into a transformers-native V2Xum checkpoint (safetensors).

    python -m modeling_v2xum.convert_v2xum_original --base lmsys/vicuna-7b-v1.5 \\
        --projector hhua2/V2Xum-LLM/mm_projector.bin --lora hhua2/V2Xum-LLM/stage2 \\
        --clip openai/clip-vit-large-patch14 --out v2xum-llama-7b

Each argument is a local path or a Hub id (`org/repo`, or `org/repo/path/inside` for a file or folder). `--clip` is a
transformers CLIP checkpoint or the original OpenAI `ViT-L-14.pt` (a TorchScript archive, read here without running
its code or any pickle beyond tensors). The result uses the `text` temporal prompt style (`[00]` written as text,
one visual token after each), the released Vicuna v1 prompt and instructions, and the released decoding
(sampling, temperature 0.05). Every shape is checked and every missing or unexpected weight is an error.
"""

import argparse
import collections
import json
import os
import pickle
import re
import sys
import zipfile

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
    GenerationConfig,
)

from .composition import _load_vision_tower, add_v2xum_token_rows, assemble_v2xum, v2xum_processor_for
from .configuration_v2xum import MAX_TEXT_FRAME_TOKENS, V2XumConfig
from .projector_weights import ProjectorWeightsError, load_released_projector
from .remote_code import save_v2xum_folder


class ConversionError(ValueError):
    """The released files do not fit together (missing or unexpected weights, wrong shapes)."""


# -- locating inputs -------------------------------------------------------------------------------------------------


# `org/repo` optionally followed by a path inside the repository; anything else that is not on disk is a missing file.
_HUB_SOURCE = re.compile(r"\w[\w.-]*/\w[\w.-]*(/[^/].*)?")


def check_source(path_or_id: str, flag: str) -> None:
    """A local path that exists, or something shaped like a Hub id; a mistyped local path is "file not found", never
    a Hub lookup."""
    if not os.path.exists(path_or_id) and not _HUB_SOURCE.fullmatch(path_or_id):
        raise ConversionError(f"{flag} {path_or_id}: file not found (and not a Hub id: org/repo[/path inside])")


def resolve(path_or_id: str, kind: str) -> str:
    """A local path as is; otherwise `org/repo[/path]` fetched from the Hub (a file, or a folder for `kind="dir"`)."""
    if os.path.exists(path_or_id):
        return path_or_id
    from huggingface_hub import hf_hub_download, snapshot_download

    parts = path_or_id.split("/")
    repo_id, inside = "/".join(parts[:2]), "/".join(parts[2:])
    if kind == "file" and not inside:
        raise ConversionError(f"{path_or_id} is neither a local file nor org/repo/path/to/file")
    try:
        if kind == "file":
            return hf_hub_download(repo_id, inside)
        root = snapshot_download(repo_id, allow_patterns=[f"{inside}/*"] if inside else None)
    except (OSError, ValueError) as error:  # offline, missing repository or file, refused id
        raise ConversionError(
            f"{path_or_id}: not on disk, and the Hub did not give it: {str(error).strip().splitlines()[0]}"
        ) from error
    return os.path.join(root, inside) if inside else root


# -- the original OpenAI CLIP file ------------------------------------------------------------------------------------


class _ScriptObject:
    """Stands for a TorchScript object of an archive; only its attributes (state) are kept."""

    def __init__(self, *args):
        self.state = None

    def __setstate__(self, state):
        self.state = state


_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "BoolStorage": torch.bool,
    "ByteStorage": torch.uint8,
}


class _TensorsOnlyUnpickler(pickle.Unpickler):
    """Unpickles a TorchScript archive's `data.pkl` allowing tensors, containers and inert stand-ins for TorchScript
    classes only: no code of the archive runs and no other class can be constructed."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str):
        super().__init__(file)
        self.archive, self.prefix, self.storages = archive, prefix, {}

    def find_class(self, module: str, name: str):
        if module.startswith("__torch__"):
            return type(name, (_ScriptObject,), {})
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return torch._utils._rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if module == "torch.jit._pickle" and name.startswith("build_"):
            return list
        if (module, name) == ("torch.jit._pickle", "restore_type_tag"):
            return lambda value, type_str: value
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a TorchScript archive")

    def persistent_load(self, pid):
        _, dtype, key, _, _ = pid
        if key not in self.storages:
            data = self.archive.read(f"{self.prefix}/data/{key}")
            self.storages[key] = (
                torch.UntypedStorage.from_buffer(data, dtype=torch.uint8) if data else torch.UntypedStorage(0)
            )
        return torch.storage.TypedStorage(wrap_storage=self.storages[key], dtype=dtype, _internal=True)


def load_openai_clip_state_dict(path: str) -> dict[str, torch.Tensor]:
    """The weights of an OpenAI CLIP file: a TorchScript archive (`ViT-L-14.pt`) or a plain state dict."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            prefix = archive.namelist()[0].split("/")[0]
            if f"{prefix}/data.pkl" in archive.namelist() and any(
                n.startswith(f"{prefix}/code/") for n in archive.namelist()
            ):
                with archive.open(f"{prefix}/data.pkl") as f:
                    root = _TensorsOnlyUnpickler(f, archive, prefix).load()
                tensors: dict[str, torch.Tensor] = {}

                def collect(obj, name):
                    if isinstance(obj, torch.Tensor):
                        tensors[name] = obj
                        return
                    state = obj.state if isinstance(obj, _ScriptObject) else None
                    if isinstance(state, dict):
                        for key, value in state.items():
                            if isinstance(key, str):
                                collect(value, f"{name}.{key}" if name else key)

                collect(root, "")
                return tensors
    return torch.load(path, map_location="cpu", weights_only=True)


def openai_clip_vision_tower(state_dict: dict[str, torch.Tensor], head_dim: int = 64) -> CLIPVisionModelWithProjection:
    """The vision half of an OpenAI-layout CLIP as transformers' `CLIPVisionModelWithProjection` (heads = width / 64
    as in every OpenAI CLIP). Text-tower weights are ignored; an unknown `visual.*` weight is an error."""
    visual = {k[len("visual.") :]: v for k, v in state_dict.items() if k.startswith("visual.")}
    if not visual:
        raise ConversionError("the CLIP file has no visual.* weights: not an OpenAI CLIP checkpoint")
    width, _, patch, _ = visual["conv1.weight"].shape
    layers = 1 + max(int(k.split(".")[2]) for k in visual if k.startswith("transformer.resblocks."))
    grid = int(round((visual["positional_embedding"].shape[0] - 1) ** 0.5))
    config = CLIPVisionConfig(
        hidden_size=width,
        intermediate_size=visual["transformer.resblocks.0.mlp.c_fc.weight"].shape[0],
        num_hidden_layers=layers,
        num_attention_heads=max(width // head_dim, 1),
        image_size=grid * patch,
        patch_size=patch,
        projection_dim=visual["proj"].shape[1],
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
    )
    renamed = {
        "vision_model.embeddings.class_embedding": visual.pop("class_embedding"),
        "vision_model.embeddings.position_embedding.weight": visual.pop("positional_embedding"),
        "vision_model.embeddings.patch_embedding.weight": visual.pop("conv1.weight"),
        "visual_projection.weight": visual.pop("proj").T.contiguous(),
    }
    for ours, theirs in (("pre_layrnorm", "ln_pre"), ("post_layernorm", "ln_post")):
        for part in ("weight", "bias"):
            renamed[f"vision_model.{ours}.{part}"] = visual.pop(f"{theirs}.{part}")
    for n in range(layers):
        block, layer = f"transformer.resblocks.{n}.", f"vision_model.encoder.layers.{n}."
        q, k, v = visual.pop(block + "attn.in_proj_weight").chunk(3)
        qb, kb, vb = visual.pop(block + "attn.in_proj_bias").chunk(3)
        for name, weight, bias in (("q_proj", q, qb), ("k_proj", k, kb), ("v_proj", v, vb)):
            renamed[f"{layer}self_attn.{name}.weight"], renamed[f"{layer}self_attn.{name}.bias"] = weight, bias
        for theirs, ours in (
            ("attn.out_proj", "self_attn.out_proj"),
            ("ln_1", "layer_norm1"),
            ("ln_2", "layer_norm2"),
            ("mlp.c_fc", "mlp.fc1"),
            ("mlp.c_proj", "mlp.fc2"),
        ):
            for part in ("weight", "bias"):
                renamed[f"{layer}{ours}.{part}"] = visual.pop(f"{block}{theirs}.{part}")
    if visual:
        raise ConversionError(f"unexpected weights in the CLIP file: {sorted('visual.' + k for k in visual)}")
    tower = CLIPVisionModelWithProjection(config)
    result = tower.load_state_dict({k: v.float() for k, v in renamed.items()}, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("position_ids")]
    if missing or result.unexpected_keys:
        raise ConversionError(f"CLIP conversion: missing {missing}, unexpected {result.unexpected_keys}")
    return tower


def load_vision_tower(clip: str) -> CLIPVisionModelWithProjection:
    if os.path.isfile(clip) or clip.endswith((".pt", ".pth", ".bin")):
        return openai_clip_vision_tower(load_openai_clip_state_dict(resolve(clip, "file")))
    return _load_vision_tower(clip, "image_embeds", None)  # a folder or Hub id: from_pretrained resolves both


# -- projector and LoRA -----------------------------------------------------------------------------------------------


def load_projector(path: str, in_features: int, out_features: int) -> dict[str, torch.Tensor]:
    """The stage-1 `Linear(768, 4096)` from `mm_projector.bin` (keys ending in `mm_projector.weight/.bias`), as
    `linear_1` weights of the V2Xum projector."""
    try:
        found = load_released_projector(path)
    except ProjectorWeightsError as error:
        raise ConversionError(str(error)) from error
    if set(found) - {"linear_1.weight", "linear_1.bias"}:
        raise ConversionError(
            f"{path} is not a single-Linear projector (it holds {sorted(found)}); the released "
            "V2Xum-LLaMA's is one Linear"
        )
    if tuple(found["linear_1.weight"].shape) != (out_features, in_features):
        raise ConversionError(
            f"{path}: projector weight is {tuple(found['linear_1.weight'].shape)}, expected ({out_features}, "
            f"{in_features}) for this CLIP and language model"
        )
    return {key.removeprefix("linear_1."): value for key, value in found.items()}


def merge_lora(language_model, lora_dir: str):
    """Merges the stage-2 PEFT LoRA into the language model, failing on any adapter weight that does not load."""
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file

    config_path = os.path.join(lora_dir, "adapter_config.json")
    if not os.path.isfile(config_path):
        raise ConversionError(f"{lora_dir} has no adapter_config.json: not a PEFT LoRA folder")
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    config.pop("base_model_name_or_path", None)
    lora_config = LoraConfig(**{k: v for k, v in config.items() if k in LoraConfig.__dataclass_fields__})
    weights_path = os.path.join(lora_dir, "adapter_model.safetensors")
    if os.path.isfile(weights_path):
        weights = load_file(weights_path)
    else:
        weights = torch.load(os.path.join(lora_dir, "adapter_model.bin"), map_location="cpu", weights_only=True)
    model = get_peft_model(language_model, lora_config)
    result = set_peft_model_state_dict(model, weights)
    missing_lora = [k for k in result.missing_keys if "lora_" in k]
    if result.unexpected_keys or missing_lora:
        raise ConversionError(
            f"LoRA {lora_dir}: unexpected adapter weights {result.unexpected_keys[:10]}, "
            f"missing adapter weights {missing_lora[:10]}"
        )
    return model.merge_and_unload()


# -- conversion -------------------------------------------------------------------------------------------------------


def convert(base: str, projector: str, lora: str, clip: str, out: str, overwrite: bool = False, dtype=torch.float16):
    if os.path.isdir(out) and os.listdir(out) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass --overwrite to write there")
    for value, flag in ((base, "--base"), (projector, "--projector"), (lora, "--lora"), (clip, "--clip")):
        check_source(value, flag)  # every input, before minutes of loading the first
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token  # as the released training
    language_model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    language_model = merge_lora(language_model, resolve(lora, "dir"))
    vision_tower = load_vision_tower(clip)
    projector_weights = load_projector(
        resolve(projector, "file"), vision_tower.config.projection_dim, language_model.config.hidden_size
    )

    # The `text` style adds only the placeholder (never generated: suppressed in the generation config).
    _, placeholder_id = add_v2xum_token_rows(language_model, tokenizer, num_frame_tokens=0)

    config = V2XumConfig(
        vision_config=vision_tower.config.to_dict(),
        text_config=language_model.config.to_dict(),
        video_token_index=placeholder_id,
        temporal_prompt_style="text",
        vision_feature_mode="image_embeds",
        projector_type="linear",
        projector_bias="bias" in projector_weights,
    )
    model = assemble_v2xum(config, vision_tower, language_model)
    model.model.multi_modal_projector.linear_1.load_state_dict(projector_weights, strict=True)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=True,
        temperature=0.05,
        num_beams=1,
        max_new_tokens=1024,
        suppress_tokens=[placeholder_id],
    )
    # The text-style processor tokenizes the prompt around the video, and each `[ii]`, separately, as the released
    # code did (tokenizer_image_token + per-prompt tokenization), so the ids match the released inputs.
    processor = v2xum_processor_for(config, tokenizer, num_frames=MAX_TEXT_FRAME_TOKENS)  # the released 100 frames
    model.to(dtype)
    save_v2xum_folder(out, model, processor)
    return model, processor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="Vicuna-7B-v1.5 folder or Hub id")
    parser.add_argument("--projector", required=True, help="stage-1 mm_projector.bin")
    parser.add_argument("--lora", required=True, help="stage-2 PEFT LoRA folder")
    parser.add_argument("--clip", required=True, help="openai/clip-vit-large-patch14 (folder or id) or ViT-L-14.pt")
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--dtype",
        choices=["float16", "bfloat16", "float32"],
        default="float16",
        help="weights of the saved checkpoint (the released model ran in float16)",
    )
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    try:
        convert(args.base, args.projector, args.lora, args.clip, args.out, args.overwrite, getattr(torch, args.dtype))
    except (ConversionError, FileExistsError, OSError, ValueError) as error:  # HFValidationError is a ValueError
        print(f"error: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"wrote the converted V2Xum-LLaMA to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
