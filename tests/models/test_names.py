"""Names -> models, the one way every component takes a model."""

from __future__ import annotations

import pytest
from inspect_ai.model import Model, get_model

from ttclab.errors import UserError
from ttclab.models.names import as_model, provider_names


def test_as_model_takes_names_models_and_the_running_model() -> None:
    named = as_model("mockllm/model")
    assert isinstance(named, Model) and str(named) == "mockllm/model"
    given = get_model("mockllm/model")
    assert as_model(given) is given
    stand_in = object()  # anything with a generate (a test double, a recorded audience) passes through
    assert as_model(stand_in) is stand_in


def test_a_misspelt_provider_is_one_error_not_a_hub_download() -> None:
    with pytest.raises(UserError, match="did you mean anthropic/claude-x"):
        as_model("anthropicc/claude-x")


def test_the_ttclab_provider_is_registered_by_its_module() -> None:
    assert "ttclab" in provider_names() and "mockllm" in provider_names()
