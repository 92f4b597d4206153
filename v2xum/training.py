# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""What `train_sft.py` needs beyond TRL: the model to train, what of it trains, its LoRA configuration, and adapters.

Facts behind the choices:
- LoRA targets the language model only, by a regex (`all-linear` would also adapt CLIP and the projector).
- The projector and `lm_head` are trained fully and saved (`modules_to_save`); the `[fNN]` input rows are trainable
  tokens. Trainable tokens on `lm_head` crash TRL's fused head, hence `modules_to_save` for it.
- PEFT does not save resized embeddings of composite configs: a model composed from a CLIP + LM pair is saved as a
  base checkpoint first, so the adapter has a base to be loaded into.
"""

import json
import os
import re
import sys
import time
from pathlib import Path

import torch
from huggingface_hub import ModelCard
from peft import LoraConfig, PeftModel
from transformers import AutoModelForImageTextToText, AutoProcessor, TrainerCallback

from modeling_v2xum.composition import compose_v2xum, v2xum_processor_for
from modeling_v2xum.model_card import render_model_card, source_name, write_folder_card
from modeling_v2xum.projector_weights import load_projector_into, save_released_projector
from modeling_v2xum.remote_code import save_v2xum_folder

from .outputs import check_output_dir
from .training_data import load_rows, prepare_examples


# q/k/v/o and gate/up/down of every decoder layer, nothing in the vision tower or projector; with or without the
# `model.` prefix, so an adapter also loads into the headless `AutoModel` (V2XumModel).
LANGUAGE_MODEL_LORA_TARGETS = (
    r"(model\.)?language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"
)
FULLY_TRAINED_WITH_LORA = ["multi_modal_projector", "lm_head"]
COMPOSED_BASE_DIR = "base_model"


def load_model_and_processor(
    model_name_or_path: str | None = None,
    vision_model: str | None = None,
    language_model: str | None = None,
    num_frames: int | None = None,
    dtype: torch.dtype | str | None = None,
    attn_implementation: str | None = None,
    composed_base_dir: str | os.PathLike | None = None,
    architecture: dict | None = None,
    chat_template: str = "v2xum",
    projector_from: str | os.PathLike | None = None,
):
    """A V2Xum checkpoint (`model_name_or_path`), or a new one composed from `vision_model` + `language_model`
    (`architecture`: `compose_v2xum`'s choices; `chat_template`: `v2xum_processor_for`'s) and saved (with its
    processor) to `composed_base_dir`, so adapters trained on it can be reloaded. `projector_from` (a stage-1
    output folder or a released-layout `mm_projector.bin`/`.safetensors`) replaces the projector's weights first."""
    if model_name_or_path and (vision_model or language_model):
        raise ValueError("Give either model_name_or_path (a V2Xum checkpoint) or vision_model + language_model")
    if model_name_or_path:
        model = AutoModelForImageTextToText.from_pretrained(
            model_name_or_path, dtype=dtype, attn_implementation=attn_implementation
        )
        processor = AutoProcessor.from_pretrained(model_name_or_path)
        if projector_from:
            load_projector_into(model.model.multi_modal_projector, projector_from)
        if num_frames:
            processor.check_frame_count(num_frames)
            processor.video_processor.num_frames = num_frames
        return model, processor
    if not (vision_model and language_model):
        raise ValueError("Give model_name_or_path, or both vision_model and language_model to compose a new V2Xum")
    dtype = getattr(torch, dtype) if isinstance(dtype, str) and dtype != "auto" else dtype
    model, tokenizer = compose_v2xum(
        vision_model, language_model, dtype=None if dtype == "auto" else dtype, **(architecture or {})
    )
    processor = v2xum_processor_for(model.config, tokenizer, num_frames=num_frames, chat_template=chat_template)
    if projector_from:
        load_projector_into(model.model.multi_modal_projector, projector_from)
    if composed_base_dir is not None:
        # An absolute path: the adapter's `base_model_name_or_path`, which must resolve from any working directory.
        composed_base_dir = os.path.abspath(composed_base_dir)
        save_v2xum_folder(composed_base_dir, model, processor)
        model.config._name_or_path = model.name_or_path = composed_base_dir
    return model, processor


def freeze_for_training(model, train_vision_tower: bool = False):
    """The training policy: the vision tower stays frozen (as in the paper) unless `train_vision_tower`; the
    projector and the decoder train. Returns `model`."""
    model.requires_grad_(True)
    model.model.vision_tower.requires_grad_(train_vision_tower)
    return model


def freeze_for_alignment(model):
    """Stage 1 (alignment): only the projector and the new `[fNN]` rows of the input embedding train; the tower and
    the language model, every other embedding row included, stay bit for bit as they were. The embedding weight
    trains with a gradient that is zero outside the new rows (and must not decay: `alignment_optimizer`).
    Returns `model`."""
    model.requires_grad_(False)
    model.model.multi_modal_projector.requires_grad_(True)
    token_ids = list(model.config.frame_token_ids)
    if token_ids:
        weight = model.get_input_embeddings().weight
        new_rows = torch.zeros(weight.shape[0], 1, dtype=weight.dtype, device=weight.device)
        new_rows[token_ids] = 1
        weight.requires_grad_(True)
        weight.register_hook(lambda grad: grad * new_rows)
    return model


def alignment_optimizer(optimizer, model):
    """The stage-1 optimizer (before its first step) with the input embedding in a group without weight decay:
    decay would shrink the frozen rows, whose gradient is zero."""
    return regroup_parameters(optimizer, [model.get_input_embeddings().weight], weight_decay=0.0)


def save_aligned_projector(model, out_dir: str | os.PathLike) -> list[str]:
    """Stage 1's projector alone, in the released layout (`mm_projector.bin` and `.safetensors`), beside the
    checkpoint: what `--projector_from` and the released-weights converter read."""
    return save_released_projector(model.model.multi_modal_projector, out_dir)


def freeze_projector(model):
    """Stage 2 with the released choice of a frozen projector: no gradient, and standardization statistics that
    stay as loaded (training batches are still standardized by their own statistics, as the projector was trained).
    Returns `model`."""
    projector = model.model.multi_modal_projector
    projector.requires_grad_(False)
    for module in projector.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.track_running_stats = False
    return model


def v2xum_lora_config(
    config,
    r: int = 64,
    lora_alpha: int = 128,
    lora_dropout: float = 0.05,
    target_modules: str | list[str] | None = None,
    modules_to_save: list[str] | None = None,
    use_rslora: bool = False,
    use_dora: bool = False,
    freeze_projector: bool = False,
) -> LoraConfig:
    """LoRA on the language model; projector (unless `freeze_projector`) and `lm_head` fully trained; `[fNN]` input
    rows trainable tokens."""
    if config.tie_word_embeddings:
        raise ValueError(
            "LoRA needs a V2Xum whose lm_head is not tied to the input embedding (PEFT would wrap the "
            "tied head, which TRL's fused head cannot read): compose it with untie_word_embeddings=True "
            "(train_sft.py's default), or train it fully"
        )
    token_ids = list(config.frame_token_ids)
    return LoraConfig(
        task_type="CAUSAL_LM",
        r=r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        target_modules=target_modules or LANGUAGE_MODEL_LORA_TARGETS,
        modules_to_save=[
            name
            for name in modules_to_save or FULLY_TRAINED_WITH_LORA
            if not (freeze_projector and name == "multi_modal_projector")
        ],
        trainable_token_indices={"embed_tokens": token_ids} if token_ids else None,
        bias="none",
        use_rslora=use_rslora,
        use_dora=use_dora,
    )


def load_adapter(adapter_dir: str | os.PathLike, base_model: str | None = None, dtype=None) -> PeftModel:
    """A trained adapter on a fresh copy of its base (`base_model_name_or_path` of the adapter unless given)."""
    adapter_dir = os.fspath(adapter_dir)
    config_path = os.path.join(adapter_dir, "adapter_config.json")
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"{adapter_dir} holds no adapter_config.json: not a PEFT adapter folder")
    with open(config_path, encoding="utf-8") as f:
        base = base_model or json.load(f)["base_model_name_or_path"]
    if not base:
        raise ValueError(f"{config_path} names no base model; pass it explicitly")
    model = AutoModelForImageTextToText.from_pretrained(base, dtype=dtype)
    return PeftModel.from_pretrained(model, adapter_dir)


def merge_adapter(
    adapter_dir: str | os.PathLike, out_dir: str | os.PathLike, base_model: str | None = None, overwrite: bool = False
) -> str:
    """Writes a full checkpoint (model, generation config, processor) with the adapter merged into its base."""
    out_dir = os.fspath(check_output_dir(out_dir, overwrite))
    model = load_adapter(adapter_dir, base_model).merge_and_unload()
    processor_source = adapter_dir if _has_processor(adapter_dir) else model.config._name_or_path
    save_v2xum_folder(out_dir, model, AutoProcessor.from_pretrained(processor_source))
    adapter_card = Path(adapter_dir) / "README.md"
    write_folder_card(
        out_dir,
        f"The LoRA adapter `{Path(adapter_dir).name}` merged into its base with `v2xum merge-adapter`.",
        base_model=ModelCard.load(adapter_card).data.base_model if adapter_card.is_file() else None,
    )
    return out_dir


def training_datasets(
    train_file: str | None = None,
    eval_file: str | None = None,
    dataset_name: str | None = None,
    dataset_config: str | None = None,
    train_split: str = "train",
    eval_split: str | None = None,
    video_root: str | None = None,
    skip_missing: bool = False,
    prepare=prepare_examples,
):
    """Validated training (and evaluation) rows: JSONL files, or a `datasets` dataset by name. `prepare` checks the
    rows: `prepare_examples` (summaries) or `v2xum.alignment_data.prepare_alignment_rows` (stage-1 captions)."""
    if train_file:
        train = load_rows(train_file, prepare, video_root, skip_missing)
        evaluation = load_rows(eval_file, prepare, video_root, skip_missing) if eval_file else None
        return train, evaluation
    if not dataset_name:
        raise ValueError("No training data: give --train_file (JSONL) or --dataset_name (a datasets dataset)")
    from .alignment_data import prepare_alignment_rows
    from .dataset_folders import load_dataset_rows

    config = dataset_config or ("align" if prepare is prepare_alignment_rows else None)
    train = load_dataset_rows(dataset_name, train_split, config, video_root, skip_missing)
    evaluation = None
    if eval_split:
        evaluation = load_dataset_rows(dataset_name, eval_split, config, video_root, skip_missing)
    return train, evaluation


# What a checkpoint folder holds once the Trainer has finished saving it (it writes trainer_state.json last).
CHECKPOINT_FILES = ("trainer_state.json",)
CHECKPOINT_WEIGHTS = (
    "model.safetensors",
    "adapter_model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
)


def is_complete_checkpoint(folder: str | os.PathLike) -> bool:
    """Whether a `checkpoint-N` folder was saved to the end: its trainer state and its weights are there."""
    return all(os.path.isfile(os.path.join(folder, name)) for name in CHECKPOINT_FILES) and any(
        os.path.exists(os.path.join(folder, name)) for name in CHECKPOINT_WEIGHTS
    )


def resume_checkpoint(resume_from_checkpoint, output_dir: str) -> str | None:
    """`--resume_from_checkpoint`: a checkpoint folder, or `last`/`true` for the newest complete one in
    `output_dir` (a run killed while saving leaves an incomplete newest folder: it is skipped, and said so)."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    value = resume_from_checkpoint
    if value is None or str(value).lower() in ("false", "none", ""):
        return None
    if str(value).lower() not in ("last", "true"):
        if not is_complete_checkpoint(value):
            raise ValueError(
                f"resume_from_checkpoint={value}: not a complete checkpoint folder (it needs "
                f"{CHECKPOINT_FILES[0]} and the weights)"
            )
        return value
    pattern = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")
    found = sorted(
        (
            (int(m.group(1)), name)
            for name in (os.listdir(output_dir) if os.path.isdir(output_dir) else [])
            if (m := pattern.match(name)) and os.path.isdir(os.path.join(output_dir, name))
        ),
        reverse=True,
    )
    for _, name in found:
        folder = os.path.join(output_dir, name)
        if is_complete_checkpoint(folder):
            return folder
        print(f"warning: skipping the incomplete checkpoint {folder} (interrupted while saving)", file=sys.stderr)
    raise ValueError(f"resume_from_checkpoint={value}, but {output_dir} holds no complete checkpoint")


def training_method(
    stage: str, use_peft: bool, train_vision_tower: bool, lora: tuple[int, int], freeze_projector: bool = False
) -> str:
    """What a `train_sft.py` run trains, in the card's words."""
    if stage == "align":
        return (
            "stage 1 (alignment) on captions: projector and new [fNN] embedding rows trained; language model and "
            "vision tower frozen"
        )
    projector = "projector frozen" if freeze_projector else "projector fully trained"
    if use_peft:
        return (
            f"LoRA r={lora[0]}, alpha={lora[1]} on the language model; {projector}; lm_head fully trained; "
            "[fNN] embedding rows trained"
        )
    tower = " including the vision tower" if train_vision_tower else ", vision tower frozen"
    return "full fine-tuning" + tower + ("; projector frozen" if freeze_projector else "")


def training_card(
    trainer,
    repo_id: str,
    base_model,
    vision_model: str | None,
    language_model: str | None,
    data_name: str,
    num_frames: int,
    method: str,
    adapter: bool,
    train_vision_tower: bool = False,
):
    """The model card of a `train_sft.py` run: what was trained (`method`), on what, how, and the logged loss."""
    args = trainer.args
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    scheduler = getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)
    summary = (
        f"`train_sft.py` (TRL SFTTrainer): {method}. {len(trainer.train_dataset)} examples ({data_name}), "
        f"{trainer.state.epoch or 0:.3g} epoch(s), lr {args.learning_rate:g} ({scheduler}), "
        f"{trainer.state.global_step} steps"
        + (f", logged training loss {losses[0]:.4f} -> {losses[-1]:.4f}." if losses else ".")
    )
    model = trainer.model.get_base_model() if adapter else trainer.model
    return render_model_card(
        model.config,
        repo_id=repo_id,
        num_frames=num_frames,
        base_model=base_model,
        vision_model=vision_model and source_name(vision_model, vision_model),
        language_model=language_model and source_name(language_model, language_model),
        training_summary=summary,
        vision_tower_trained=train_vision_tower,
        adapter=adapter,
    )


# Parameters that start from nothing in a composed model: the projector and the new token rows (trainable tokens).
NEW_PARTS = ("multi_modal_projector", "trainable_tokens_delta")


def regroup_parameters(optimizer, params, **options):
    """The optimizer (before its first step), with `params` moved out of their param groups into groups of their
    own whose options (`lr`, `weight_decay`, ...) are overridden by `options`."""
    chosen = {id(p) for p in params}
    groups = []
    for group in optimizer.param_groups:
        kept = {k: v for k, v in group.items() if k != "params"}
        groups.append({**kept, "params": [p for p in group["params"] if id(p) not in chosen]})
        groups.append({**kept, **options, "params": [p for p in group["params"] if id(p) in chosen]})
    optimizer.param_groups = []  # not stepped yet: no state to carry over
    for group in groups:
        if group["params"]:
            optimizer.add_param_group(group)
    return optimizer


def split_learning_rates(optimizer, model, new_parts_learning_rate: float):
    """The optimizer (before its first step), with the new parts (`NEW_PARTS`) in param groups of their own at
    `new_parts_learning_rate`: a pretrained LM adapts slowly while the parts it has never seen learn fast."""
    new = [p for name, p in model.named_parameters() if any(part in name for part in NEW_PARTS)]
    return regroup_parameters(optimizer, new, lr=new_parts_learning_rate, initial_lr=new_parts_learning_rate)


def check_reporting(report_to) -> None:
    """Each `--report_to` tracker can start here (installed, configured), before any model or data loads."""
    from transformers.integrations import get_reporting_integration_callbacks

    names = [report_to] if isinstance(report_to, str) else list(report_to or [])
    for callback in get_reporting_integration_callbacks([name for name in names if name != "none"]):
        try:
            callback()
        except (RuntimeError, ImportError) as error:
            raise ValueError(f"--report_to: {error}") from error


class TimeBudget(TrainerCallback):
    """Stops training after `minutes` of it (checked after each step; the model is then saved as at the end)."""

    def __init__(self, minutes: float):
        self.seconds, self.start = minutes * 60, None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if time.monotonic() - self.start > self.seconds:
            control.should_training_stop = True


def _has_processor(path: str | os.PathLike) -> bool:
    return os.path.isfile(os.path.join(path, "processor_config.json"))


__all__ = [
    "LANGUAGE_MODEL_LORA_TARGETS",
    "load_model_and_processor",
    "v2xum_lora_config",
    "freeze_for_training",
    "freeze_for_alignment",
    "alignment_optimizer",
    "freeze_projector",
    "save_aligned_projector",
    "regroup_parameters",
    "training_datasets",
    "resume_checkpoint",
    "training_card",
    "training_method",
    "load_adapter",
    "merge_adapter",
    "split_learning_rates",
    "TimeBudget",
    "check_reporting",
]
