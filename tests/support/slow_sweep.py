"""A sweep against a deliberately slow scripted model, run as a subprocess so a test can kill it half-way.

Usage: python slow_sweep.py LOG_DIR CALLS_FILE. Every finished model call appends a line to CALLS_FILE.
"""

import sys

import anyio
from inspect_ai.model import ModelAPI, ModelOutput, ModelUsage, modelapi

from ttclab.experiments.sweep import SweepConfig, run_sweep

CALLS_FILE = sys.argv[2]


class SlowModel(ModelAPI):
    def max_connections(self) -> int:
        return 1

    async def generate(self, input, tools, tool_choice, config):
        await anyio.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
        with open(CALLS_FILE, "a") as calls:
            calls.write(f"{config.reasoning_tokens}\n")
        output = ModelOutput.from_content(model="slow", content="<answer>2</answer>")
        output.usage = ModelUsage(input_tokens=10, output_tokens=5, total_tokens=15)
        return output


@modelapi(name="slowmock")
def slowmock() -> type[ModelAPI]:
    return SlowModel


if __name__ == "__main__":
    config = SweepConfig(tasks=("misleading_math",), models=("slowmock/model",), budgets=(0, 64), limit=10,
                         log_dir=sys.argv[1], display="none", max_tasks=1, max_samples=2)
    sys.exit(0 if run_sweep(config) else 1)
