# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""V2Xum metrics. Each sub-folder is an `evaluate` module (`evaluate.load("evaluate_metrics/fclip")`) with its metric
card; the shared math is in `scoring` (FCLIP, F1 protocols, KTS, knapsack), `text_scoring` (caption metrics) and
`clip_backends` (CLIP embeddings from transformers or open_clip)."""
