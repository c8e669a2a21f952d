"""The shared SFT runner on the embedded model: the loss falls on a fixed batch, runs resume, the adapter loads."""

import pytest

from ttclab.errors import UserError
from ttclab.models.catalog import load_causal_lm
from ttclab.training.sft import SFTSettings, chat_example, train_sft

EXAMPLES = [chat_example(f"What is {a} plus {a}?", f"{2 * a}.") for a in (3, 5, 7, 9)]


def test_examples_and_settings_are_checked():
    example = chat_example("Hi?", "Hello.", system="Be brief.")
    assert [m["role"] for m in example["prompt"]] == ["system", "user"]
    assert example["completion"] == [{"role": "assistant", "content": "Hello."}]
    with pytest.raises(UserError, match="rank"):
        SFTSettings(rank=0)
    with pytest.raises(UserError, match="no training examples"):
        train_sft("local", [], "unused")
    with pytest.raises(UserError, match="example 0"):
        train_sft("local", [{"text": "x"}], "unused")


@pytest.mark.model
def test_training_lowers_the_loss_resumes_and_saves_a_loadable_adapter(tmp_path):
    from transformers import AutoModelForCausalLM

    settings = SFTSettings(lr=1e-3, max_steps=2, batch_size=4, save_steps=1, progress=False)
    first = train_sft("local", EXAMPLES, tmp_path, settings)
    assert first["steps"] == 2 and not first["resumed"]
    longer = SFTSettings(lr=1e-3, max_steps=4, batch_size=4, save_steps=1, progress=False)
    second = train_sft("local", EXAMPLES, tmp_path, longer)
    assert second["resumed"] and second["steps"] == 4
    losses = [row["loss"] for row in second["log"]]
    assert len(losses) == 4 and losses[-1] < losses[0]  # the same batch of four every step
    model = AutoModelForCausalLM.from_pretrained(second["adapter"])
    assert any("lora" in name for name, _ in model.named_parameters())
    served, tokenizer = load_causal_lm(second["adapter"])  # what the ttclab/ provider loads by path
    assert any("lora" in name for name, _ in served.named_parameters()) and tokenizer.chat_template
