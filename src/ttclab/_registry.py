"""Inspect's entry point into ttclab: importing this registers our tasks and the `ttclab/` provider."""

from ttclab import tasks as _tasks  # noqa: F401  (importing the task modules registers every task)
from ttclab.models import names as _names  # noqa: F401  (registers the ttclab/ provider)
