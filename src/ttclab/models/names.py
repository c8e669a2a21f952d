"""Model names as users write them -> Inspect models: `local`, an HF folder or hub id (all served in process by the
`ttclab/` provider, registered here), or any provider/model Inspect knows, checked before anything runs. The one
place every layer (sweeps, recipes, judges, memories) turns a name into a model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inspect_ai.model import ModelAPI, modelapi

from ttclab.errors import UserError
from ttclab.models import catalog

LOCAL_PROVIDER = "ttclab"


@modelapi(name=LOCAL_PROVIDER)
def ttclab_provider() -> type[ModelAPI]:
    from ttclab.models.provider import TTCLabAPI

    return TTCLabAPI


def is_provider(name: str) -> bool:
    """Whether Inspect knows a model provider by this name (ours included)."""
    return name in provider_names()


def model_name(name: str) -> str:
    """'local' or an HF folder or hub id -> 'ttclab/...'; provider/model names pass through, checked."""
    name = name.strip()
    provider, sep, rest = name.partition("/")
    if sep and is_provider(provider):
        if provider == LOCAL_PROVIDER:
            catalog.resolve(rest)
        elif not rest:
            raise UserError(f"model {name!r} names no model after {provider}/")
        return name
    if sep and not Path(name).expanduser().exists():
        near = [known for known in provider_names() if _one_edit_apart(provider, known)]
        if near:  # a hub id one typo from a provider would otherwise be fetched (or retried) from the hub
            raise UserError(f"unknown provider {provider!r} in {name!r}: did you mean {near[0]}/{rest}? (for a "
                            f"Hugging Face model of that name, download it and pass its folder)")
    catalog.resolve(name)
    return f"{LOCAL_PROVIDER}/{name}"


def provider_names() -> list[str]:
    """The model providers Inspect knows (ours included)."""
    from inspect_ai._util.registry import registry_find, registry_unqualified_name

    return sorted({registry_unqualified_name(info) for info in registry_find(lambda i: i.type == "modelapi")})


def _one_edit_apart(a: str, b: str) -> bool:
    """One letter added, dropped, changed or two neighbours swapped (names of 4 letters or more)."""
    if a == b or min(len(a), len(b)) < 4 or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                                  and a[diff[1]] == b[diff[0]])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def load_model(name: str, **args: Any) -> Any:
    """The Inspect model for a name `model_name` accepts; one that cannot be loaded (a missing API key or client
    package) is a user error in one line."""
    from inspect_ai.model import get_model

    name = model_name(name)
    try:
        return get_model(name, **args)
    except UserError:
        raise
    except Exception as error:
        from rich.text import Text

        plain = " ".join(Text.from_markup(str(error)).plain.split())  # Inspect's messages carry console markup
        raise UserError(f"cannot load model {name!r}: {plain}") from None


def as_model(model: Any = None, **args: Any) -> Any:
    """A Model as every component takes it: a name through `load_model` (so `local` and HF folders work
    everywhere a name is accepted), None for the model of the running eval, a Model (or anything with its
    `generate`) as it is."""
    from inspect_ai.model import get_model

    if model is None:
        return get_model()
    if isinstance(model, str):
        return load_model(model, **args)
    return model
