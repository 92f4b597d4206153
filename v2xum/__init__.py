# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""The V2Xum application: the `v2xum` command, summarizing and exporting, evaluation, training data and helpers,
the Hub, StoryBoard and test fixtures. The model is `modeling_v2xum`, its input and output `processing`; importing
this package registers the model with transformers (through `modeling_v2xum`)."""

import modeling_v2xum  # noqa: F401  (registers V2Xum with the Auto classes and the pipeline registry)


__version__ = "0.1.0.dev0"
