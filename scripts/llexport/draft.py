"""Draft packages for speculative decoding (docs/model-package.md, "Draft packages"): the target's embedding, its
first N blocks and its own final norm and classifier — an "early exit" of the same checkpoint. It shares the
target's tokenizer by construction, costs N/n_layers of the target per token, and needs no training."""
import dataclasses

from .errors import ExportError


def early_exit(src, layers):
    """`src` cut after its first `layers` blocks, named <name>-exit<layers>."""
    total = src.config["n_layers"]
    if not 1 <= layers < total:
        raise ExportError(f"--draft-layers must be in 1..{total - 1} (the model has {total} layers), got {layers}")
    config = dict(src.config, n_layers=layers)
    weights = dict(src.weights, layers=src.weights["layers"][:layers])
    notes = list(src.notes) + [f"draft: early exit of {src.name} after {layers} of its {total} layers"]
    return dataclasses.replace(src, name=f"{src.name}-exit{layers}", config=config, weights=weights, notes=notes)
