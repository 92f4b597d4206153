# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""The projector alone, in the released `mm_projector.bin` layout: what stage 1 (alignment) produces and stage 2 and
the converter of the released V2Xum-LLaMA read.

The released layout is LLaVA's: `model.mm_projector.weight/.bias` for a single `Linear` (V2Xum-LLaMA), and
`model.mm_projector.0.*` / `model.mm_projector.2.*` for the two linears of `mlp2x_gelu` (LLaVA-1.5's
`Sequential(Linear, GELU, Linear)`). The feature standardization of `projector_feature_norm` is not in LLaVA's layout;
its statistics are kept beside it as `model.mm_projector_norm.running_mean/running_var/num_batches_tracked`, so a
projector round-trips whole. `mm_projector.bin` is a `torch.save` state dict (read back with `weights_only=True`);
`mm_projector.safetensors` beside it holds the same tensors.
"""

import os
import re

import torch
from safetensors.torch import load_file, save_file


RELEASED_PROJECTOR_FILE = "mm_projector.bin"
PROJECTOR_SAFETENSORS_FILE = "mm_projector.safetensors"
_PREFIX = "model.mm_projector"
_NORM_PREFIX = "model.mm_projector_norm"


class ProjectorWeightsError(ValueError):
    """A projector file does not hold what a V2Xum projector needs (missing or unexpected weights, wrong shapes)."""


def _released_names(projector_keys) -> dict[str, str]:
    """`{V2XumMultiModalProjector key: released key}` for a projector with these state-dict keys."""
    two_layers = any(key.startswith("linear_2.") for key in projector_keys)
    names = {}
    for key in projector_keys:
        module, part = key.rsplit(".", 1)
        if module == "feature_norm":
            names[key] = f"{_NORM_PREFIX}.{part}"
        elif module == "linear_1":
            names[key] = f"{_PREFIX}.0.{part}" if two_layers else f"{_PREFIX}.{part}"
        elif module == "linear_2":
            names[key] = f"{_PREFIX}.2.{part}"
        else:
            raise ProjectorWeightsError(f"projector weight {key!r} has no place in the released layout")
    return names


def released_projector_state(projector: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The projector's weights under their released names (contiguous CPU copies)."""
    state = projector.state_dict()
    return {
        released: state[key].detach().to("cpu").contiguous().clone()
        for key, released in _released_names(state).items()
    }


# Any prefix before `mm_projector` (LLaVA saves `model.mm_projector.*`, some tools drop `model.`), then the released
# parts: `weight`/`bias` of a single Linear, `0.*`/`2.*` of LLaVA-1.5's MLP, or the standardization statistics.
_RELEASED_KEY = re.compile(
    r"(?:.*\.)?(?:mm_projector\.(?P<layer>[02]\.)?(?P<part>weight|bias)"
    r"|mm_projector_norm\.(?P<stat>running_mean|running_var|num_batches_tracked))"
)


def projector_state_from_released(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Released names back to `V2XumMultiModalProjector` keys; any other key is an error naming the file."""
    mapped, unexpected = {}, []
    for key, value in state.items():
        match = _RELEASED_KEY.fullmatch(key)
        if match is None:
            unexpected.append(key)
        elif match["stat"]:
            mapped[f"feature_norm.{match['stat']}"] = value
        else:
            mapped[f"linear_{2 if match['layer'] == '2.' else 1}.{match['part']}"] = value
    if unexpected:
        raise ProjectorWeightsError(f"unexpected weights in {source}: {unexpected[:10]}")
    if "linear_1.weight" not in mapped:
        raise ProjectorWeightsError(f"{source} holds no mm_projector weight")
    return mapped


def save_released_projector(projector: torch.nn.Module, folder: str | os.PathLike) -> list[str]:
    """Writes `mm_projector.bin` and `mm_projector.safetensors` into `folder`; returns their paths."""
    state = released_projector_state(projector)
    paths = [os.path.join(folder, RELEASED_PROJECTOR_FILE), os.path.join(folder, PROJECTOR_SAFETENSORS_FILE)]
    torch.save(state, paths[0])
    save_file(state, paths[1], metadata={"format": "pt"})
    return paths


def projector_file(path: str | os.PathLike) -> str:
    """The projector file of `path`: the file itself, or in a folder `mm_projector.safetensors` (else `.bin`)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        for name in (PROJECTOR_SAFETENSORS_FILE, RELEASED_PROJECTOR_FILE):
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name)
        raise FileNotFoundError(
            f"{path} holds neither {PROJECTOR_SAFETENSORS_FILE} nor {RELEASED_PROJECTOR_FILE} "
            "(written by train_sft.py --stage align)"
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(f"projector file {path} not found")
    return path


def load_released_projector(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A projector state dict (`V2XumMultiModalProjector` keys) from a released-layout file or a folder holding one.
    `.bin` files are read with `weights_only=True` (tensors only, no code)."""
    path = projector_file(path)
    if path.endswith(".safetensors"):
        state = load_file(path)
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # the unpickler refuses anything but tensors, or the file is not a checkpoint
            raise ProjectorWeightsError(f"{path} is not a readable projector checkpoint ({error})") from error
    if not isinstance(state, dict):
        raise ProjectorWeightsError(f"{path} holds a {type(state).__name__}, not a state dict")
    return projector_state_from_released(state, path)


def load_projector_into(projector: torch.nn.Module, path: str | os.PathLike) -> None:
    """Replaces `projector`'s weights by those of `path` (`load_released_projector`); a missing, unexpected or
    differently shaped weight is a `ProjectorWeightsError` naming both shapes."""
    weights = load_released_projector(path)
    own = projector.state_dict()
    missing, unexpected = sorted(set(own) - set(weights)), sorted(set(weights) - set(own))
    if missing or unexpected:
        raise ProjectorWeightsError(
            f"{path} does not fit this model's projector: missing {missing}, unexpected "
            f"{unexpected} (projector_type and projector_feature_norm must match)"
        )
    for key, value in weights.items():
        if value.shape != own[key].shape:
            raise ProjectorWeightsError(
                f"{path}: {key} is {tuple(value.shape)}, this model's projector needs {tuple(own[key].shape)}"
            )
    projector.load_state_dict({k: v.to(own[k].dtype) for k, v in weights.items()}, strict=True)


__all__ = [
    "RELEASED_PROJECTOR_FILE",
    "PROJECTOR_SAFETENSORS_FILE",
    "ProjectorWeightsError",
    "released_projector_state",
    "projector_state_from_released",
    "save_released_projector",
    "load_released_projector",
    "load_projector_into",
    "projector_file",
]
