# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""The `v2xum` command."""

import argparse
import sys
import time
from pathlib import Path


def _init_tiny(args: argparse.Namespace) -> int:
    from .tiny import write_tiny_checkpoint

    out = Path(args.out_dir)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        print(f"error: {out} exists and is not empty; pass --overwrite to replace its checkpoint files", file=sys.stderr)
        return 2
    start = time.perf_counter()
    write_tiny_checkpoint(
        out,
        vision_feature_mode=args.feature_mode,
        projector_type=args.projector,
        num_frames=args.num_frames,
        seed=args.seed,
    )
    print(f"wrote a tiny random-weight V2Xum checkpoint to {out} in {time.perf_counter() - start:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="v2xum", description="Cross-modal video summarization with V2Xum.")
    commands = parser.add_subparsers(dest="command", required=True)

    tiny = commands.add_parser("init-tiny", help="write a tiny random-weight checkpoint (tests, CI, trying things)")
    tiny.add_argument("out_dir")
    tiny.add_argument("--feature-mode", choices=["image_embeds", "patch_pooled"], default="image_embeds")
    tiny.add_argument("--projector", choices=["linear", "mlp2x_gelu"], default="linear")
    tiny.add_argument("--num-frames", type=int, default=8, help="frames the saved video processor samples")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--overwrite", action="store_true", help="write into a non-empty directory")
    tiny.set_defaults(handler=_init_tiny)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
