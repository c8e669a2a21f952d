"""AHN weights as an adapter: a small folder beside the base model, naming the base it was distilled on.

The folder holds `ahn_config.json` (memory kind, window, sinks, the base model, the shapes it expects) and
`ahn.safetensors` (only the AHN parameters, a few percent of the model). Loading checks the base's shapes before
touching any weight, so an adapter from another model is refused with a message rather than half-loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

from ttclab.errors import UserError
from ttclab.models.ahn.model import AHNConfig, add_ahn, ahn_parameters, has_ahn

__all__ = ["ADAPTER_CONFIG", "ADAPTER_WEIGHTS", "is_adapter", "load_adapter", "load_ahn_model", "save_adapter"]

ADAPTER_CONFIG = "ahn_config.json"
ADAPTER_WEIGHTS = "ahn.safetensors"
FORMAT = "ttclab-ahn-1"


def _shape(model: nn.Module) -> dict[str, int]:
    config = model.config
    return {"layers": int(config.num_hidden_layers), "hidden_size": int(config.hidden_size),
            "heads": int(config.num_attention_heads), "head_dim": int(model.model.layers[0].self_attn.head_dim)}


def save_adapter(model: nn.Module, folder: Path | str, base: str | None = None) -> Path:
    """Write the AHN weights and settings of `model` to `folder` (replaced whole, never left half-written)."""
    from safetensors.torch import save_file

    if not has_ahn(model):
        raise UserError("this model has no AHN to save: add_ahn (or train) it first")
    folder = Path(folder)
    config: AHNConfig = model.ahn_config
    settings = {"format": FORMAT, "kind": config.kind, "window": config.window, "sinks": config.sinks,
                "chunk_size": config.chunk_size, "base_model": base, **_shape(model)}
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        weights = {name: parameter.detach().float().contiguous().cpu()
                   for name, parameter in ahn_parameters(model).items()}
        save_file(weights, str(staging / ADAPTER_WEIGHTS))
        (staging / ADAPTER_CONFIG).write_text(json.dumps(settings, indent=2))
        if folder.exists():
            old = folder.with_name(folder.name + ".old")
            os.replace(folder, old)
            os.replace(staging, folder)
            shutil.rmtree(old)
        else:
            os.replace(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return folder


def is_adapter(folder: Path | str) -> bool:
    return (Path(folder) / ADAPTER_CONFIG).is_file()


def read_settings(folder: Path | str) -> dict[str, Any]:
    path = Path(folder) / ADAPTER_CONFIG
    try:
        settings = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{folder} is not an AHN adapter (no {ADAPTER_CONFIG}): give the folder `ttclab train ahn` "
                        "wrote its adapter to") from None
    except ValueError as exc:
        raise UserError(f"{path} is not valid JSON ({exc}): save the adapter again") from None
    if settings.get("format") != FORMAT:
        raise UserError(f"{path} has format {settings.get('format')!r}, not {FORMAT!r}: save the adapter again")
    return settings


def load_adapter(model: nn.Module, folder: Path | str) -> nn.Module:
    """Add AHN to `model` with the adapter's settings and load its weights; returns the model."""
    from safetensors.torch import load_file

    settings = read_settings(folder)
    expected = {key: settings.get(key) for key in ("layers", "hidden_size", "heads", "head_dim")}
    found = _shape(model)
    if expected != found:
        raise UserError(f"the AHN adapter in {folder} was made for a model shaped {expected}, this one is {found}: "
                        f"load it on its base model ({settings.get('base_model') or 'not recorded'})")
    add_ahn(model, AHNConfig(kind=settings["kind"], window=settings["window"], sinks=settings["sinks"],
                             chunk_size=settings["chunk_size"]))
    weights = load_file(str(Path(folder) / ADAPTER_WEIGHTS))
    parameters = ahn_parameters(model)
    if set(weights) != set(parameters):
        missing, extra = sorted(set(parameters) - set(weights)), sorted(set(weights) - set(parameters))
        raise UserError(f"the AHN adapter in {folder} does not fit: missing {missing[:3]}, unexpected {extra[:3]}")
    for name, parameter in parameters.items():
        if weights[name].shape != parameter.shape:
            raise UserError(f"the AHN adapter in {folder} has {name} shaped {tuple(weights[name].shape)}, "
                            f"the model wants {tuple(parameter.shape)}")
        parameter.data.copy_(weights[name])
    return model


def load_ahn_model(folder: Path | str, base: str | None = None, dtype: Any = None, device: str = "cpu"):
    """The base model named in the adapter (or `base`) with the adapter loaded, and its tokenizer."""
    from ttclab.models.catalog import load_causal_lm

    name = base or read_settings(folder).get("base_model")
    if not name:
        raise UserError(f"the AHN adapter in {folder} does not name its base model: pass the base model too")
    model, tokenizer = load_causal_lm(name, dtype=dtype, device=device)
    return load_adapter(model, folder), tokenizer
