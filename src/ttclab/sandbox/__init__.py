"""Run untrusted, model-written Python in a confined child process (see `runner` for what is and is not a boundary)."""

from ttclab.sandbox.runner import Limits, RunResult, run_python, run_python_async

__all__ = ["Limits", "RunResult", "run_python", "run_python_async"]
