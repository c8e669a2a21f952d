"""The Webscale-RL pipeline on a scripted mock model: parsers, a full run, resume, decontamination, reward."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from inspect_ai.model import GenerateConfig, ModelOutput, ModelUsage, get_model

from ttclab.errors import UserError
from ttclab.training import webscale
from ttclab.training.webscale import (
    INTRO,
    Decontaminator,
    MalformedReply,
    Pair,
    Verdict,
    WebscaleSettings,
    answer_matches,
    grpo_dataset,
    load_eval_items,
    parse_check,
    parse_filter,
    parse_generate,
    parse_identify,
    read_documents,
    run_pipeline,
    webscale_reward,
)
from ttclab.training.webscale.pipeline import side_file

# ----- parsers -------------------------------------------------------------------------------------------------


def test_parse_filter_reads_fenced_and_prose_replies() -> None:
    assert parse_filter('```json\n{"keep": true, "reason": "facts"}\n```') is True
    assert parse_filter('Sure! Here is my verdict: {"keep": false, "reason": "a menu"} Hope it helps.') is False
    assert parse_filter('<think>hmm {"keep": false}</think>{"keep": "Yes"}') is True  # thinking is not the reply


@pytest.mark.parametrize("reply", ["I would keep it.", '{"verdict": true}', '{"keep": "maybe"}', "", "```json\n```"])
def test_parse_filter_rejects_malformed(reply: str) -> None:
    with pytest.raises(MalformedReply):
        parse_filter(reply)


def test_parse_identify_tolerates_case_and_spacing_of_domains() -> None:
    reply = 'The document is scientific.\n```json\n{"domain": "Natural Science", "personas": ["a student", "A ' \
            'Student", " a teacher "]}\n```'
    assert parse_identify(reply) == ("natural_science", ["a student", "a teacher"])
    assert parse_identify('{"domain": "SOCIAL-SCIENCE", "personas": "a historian"}') == ("social_science",
                                                                                          ["a historian"])


@pytest.mark.parametrize("reply", [
    '{"domain": "cooking", "personas": ["a cook"]}',
    '{"domain": "math", "personas": []}',
    '{"domain": "math", "personas": ["a", "b", "c", "d"]}',
    '{"domain": "math", "personas": ["a", ""]}',
    '{"personas": ["a cook"]}',
    "math, a student",
])
def test_parse_identify_rejects_malformed(reply: str) -> None:
    with pytest.raises(MalformedReply):
        parse_identify(reply)


def test_parse_generate_keeps_personas_and_pairs() -> None:
    reply = ('Here you go:\n```json\n{"pairs": [{"persona": "A Hiker", "question": "How high is the mountain '
             'called K2 in metres?", "answer": "8,611"}, {"persona": "someone else", "question": "Which range '
             'holds K2?", "answer": "Karakoram"}]}\n```')
    assert parse_generate(reply, ["a hiker", "a geographer"]) == [
        Pair("a hiker", "How high is the mountain called K2 in metres?", "8,611"),
        Pair("a geographer", "Which range holds K2?", "Karakoram"),
    ]
    assert parse_generate('{"pairs": [{"question": "What is 6 times 7?", "answer": 42}]}', ["a pupil"]) == [
        Pair("a pupil", "What is 6 times 7?", "42")]


@pytest.mark.parametrize("pairs", [
    [],
    [{"question": "Which river flows through Cairo?", "answer": ""}],
    [{"question": "", "answer": "Nile"}],
    [{"question": "Is the Nile the river through Cairo?", "answer": "the Nile"}],  # the answer is in the question
    [{"question": "Why is the sky blue?", "answer": "because air scatters blue light more than the red light of "
                                                    "the sun"}],  # too long to check
    [{"question": "What is 2 + 2?", "answer": "4"}] * 3,  # more pairs than personas
    ["What is 2 + 2?"],
])
def test_parse_generate_rejects_malformed(pairs: list[Any]) -> None:
    with pytest.raises(MalformedReply):
        parse_generate(json.dumps({"pairs": pairs}), ["a pupil", "a teacher"])
    with pytest.raises(MalformedReply):
        parse_generate("no json here", ["a pupil"])


def test_parse_check_orders_by_pair_number() -> None:
    reply = ('Verdicts:\n{"verdicts": [{"pair": 2, "self_contained": true, "correct": false, "leaks_answer": false},'
             ' {"pair": 1, "self_contained": "yes", "correct": true, "leaks_answer": "no"}]}')
    verdicts = parse_check(reply, 2)
    assert verdicts == [Verdict(True, True, False), Verdict(True, False, False)]
    assert [verdict.passed for verdict in verdicts] == [True, False]
    assert not Verdict(True, True, True).passed


@pytest.mark.parametrize("reply", [
    '{"verdicts": [{"pair": 1, "self_contained": true, "correct": true, "leaks_answer": false}]}',  # one of two
    '{"verdicts": [{"pair": 1, "self_contained": true, "correct": true}, {"pair": 2, "self_contained": true, '
    '"correct": true}]}',
    '{"verdicts": [{"pair": 1, "self_contained": true, "correct": true, "leaks_answer": false}, {"pair": 3, '
    '"self_contained": true, "correct": true, "leaks_answer": false}]}',
    '{"ok": true}',
    "All good.",
])
def test_parse_check_rejects_malformed(reply: str) -> None:
    with pytest.raises(MalformedReply):
        parse_check(reply, 2)


# ----- a scripted model ----------------------------------------------------------------------------------------

TEXTS = {
    "everest": "Mount Everest, on the border of Nepal and China, is the highest mountain above sea level. A 2020 "
               "survey measured its height as 8,849 metres. It was first climbed in 1953 by Edmund Hillary and "
               "Tenzing Norgay.",
    "banner": "Accept all cookies. Reject all. Cookie settings. We and our partners use cookies to personalise ads.",
    "ohm": "Ohm's law says that the current through a conductor equals the voltage across it divided by its "
           "resistance. A 12 volt battery across a 4 ohm resistor drives a current of 3 amperes.",
    "tea": "Green tea and black tea come from the same plant, Camellia sinensis. Black tea is oxidised before it "
           "is dried; green tea is heated soon after picking to stop oxidation.",
}

KEEP = '{"keep": true, "reason": "facts"}'
PASS = {"self_contained": True, "correct": True, "leaks_answer": False}
EVEREST_PAIRS = [
    {"persona": "a climber", "question": "In which year did Edmund Hillary and Tenzing Norgay first climb Mount "
                                         "Everest?", "answer": "1953"},
    {"persona": "a surveyor", "question": "According to a 2020 survey, how many metres high is Mount Everest?",
     "answer": "8,849"},
]
REPLIES: dict[str, dict[str, str]] = {
    "everest": {
        "filter": KEEP,
        "identify": '```json\n{"domain": "Travel", "personas": ["a climber", "a surveyor"]}\n```',
        "generate": json.dumps({"pairs": EVEREST_PAIRS}),
        "check": json.dumps({"verdicts": [{"pair": 1, **PASS}, {"pair": 2, **PASS}]}),
    },
    "banner": {"filter": '{"keep": false, "reason": "a cookie banner"}'},
    "ohm": {"filter": KEEP, "identify": "This is about electricity, for students."},  # no JSON: malformed
    "tea": {
        "filter": KEEP,
        "identify": '{"domain": "other", "personas": ["a tea drinker"]}',
        "generate": json.dumps({"pairs": [{"persona": "a tea drinker", "question": "From which plant do green "
                                           "and black tea come?", "answer": "Camellia sinensis"}]}),
        "check": json.dumps({"verdicts": [{"pair": 1, "self_contained": True, "correct": False,
                                           "leaks_answer": False}]}),
    },
}
EXPECTED_RECORDS = [
    {"source": "https://example.org/everest", "question": pair["question"], "answer": pair["answer"],
     "domain": "travel", "persona": pair["persona"], "doc_id": "everest"}
    for pair in EVEREST_PAIRS
]


class Killed(BaseException):
    """Stands for the process being killed mid-run."""


class Script:
    """Replies by stage (from the prompt's opening line) and document (from its text in the prompt)."""

    def __init__(self, replies: dict[str, dict[str, str]], kill_after: int | None = None) -> None:
        self.replies, self.kill_after = replies, kill_after
        self.calls: Counter[tuple[str, str]] = Counter()
        self.configs: set[tuple[int | None, int | None]] = set()

    def __call__(self, messages: list[Any], tools: Any, tool_choice: Any, config: GenerateConfig) -> ModelOutput:
        self.configs.add((config.max_connections, config.max_tokens))
        prompt = messages[-1].text
        stage = next(stage for stage, intro in INTRO.items() if prompt.startswith(intro))
        doc = next(doc for doc, text in TEXTS.items() if text in prompt)
        if self.kill_after is not None and sum(self.calls.values()) >= self.kill_after:
            raise Killed()
        self.calls[(doc, stage)] += 1
        reply = self.replies[doc][stage]
        if reply == "raise":
            raise RuntimeError("connection reset")
        output = ModelOutput.from_content("mockllm/model", reply)
        output.usage = ModelUsage(input_tokens=100, output_tokens=20, total_tokens=120)  # else a tokenizer loads
        return output

    def model(self) -> Any:
        return get_model("mockllm/model", custom_outputs=self, memoize=False)

    def documents(self) -> set[str]:
        return {doc for doc, _ in self.calls}


def write_input(folder: Path, names: list[str] | None = None) -> Path:
    path = folder / "docs.jsonl"
    lines = [json.dumps({"id": name, "url": f"https://example.org/{name}", "text": TEXTS[name]})
             for name in names or list(TEXTS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def settings(source: Path, out: Path, **changes: Any) -> WebscaleSettings:
    return WebscaleSettings(source=str(source), out=str(out), **{"max_connections": 4, **changes})


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ----- full runs -----------------------------------------------------------------------------------------------


def test_full_run_keeps_checked_pairs_and_counts_every_stage(tmp_path: Path) -> None:
    script = Script(REPLIES)
    out = tmp_path / "out" / "pairs.jsonl"
    lines: list[str] = []
    stats = run_pipeline(settings(write_input(tmp_path), out), model=script.model(), progress=lines.append)

    assert read_jsonl(out) == EXPECTED_RECORDS
    assert (stats.documents, stats.skipped, stats.filtered_out, stats.identified) == (4, 0, 1, 2)
    assert (stats.generated, stats.passed, stats.decontaminated, stats.kept, stats.records) == (3, 2, 0, 2, 2)
    assert stats.malformed == {"filter": 0, "identify": 1, "generate": 0, "check": 0}
    assert sum(stats.errors.values()) == 0
    assert len(lines) == 4 and any("everest: kept (2 pairs)" in line for line in lines)
    assert "4 documents" in stats.summary()

    (logged,) = read_jsonl(side_file(out, "errors.jsonl"))
    assert logged["doc_id"] == "ohm" and logged["stage"] == "identify" and logged["kind"] == "malformed"
    assert logged["reply"] == REPLIES["ohm"]["identify"]
    statuses = {entry["doc_id"]: entry["status"] for entry in read_jsonl(side_file(out, "journal.jsonl"))}
    assert statuses == {"everest": "kept", "banner": "filtered_out", "ohm": "malformed_identify",
                        "tea": "no_pairs"}
    assert script.calls[("everest", "check")] == 1 and ("banner", "identify") not in script.calls


def test_model_by_name_gets_the_run_s_connections(tmp_path: Path) -> None:
    script = Script(REPLIES)
    out = tmp_path / "pairs.jsonl"
    run_pipeline(settings(write_input(tmp_path), out, model="mockllm/model", max_connections=3, max_tokens=99,
                          model_args={"custom_outputs": script}), progress=None)
    assert read_jsonl(out) == EXPECTED_RECORDS
    assert script.configs == {(3, 99)}
    assert json.loads(side_file(out, "settings.json").read_text())["identity"]["model"] == "mockllm/model"


def test_model_errors_are_counted_and_retried_on_the_next_run(tmp_path: Path) -> None:
    source, out = write_input(tmp_path), tmp_path / "pairs.jsonl"
    failing = Script({**REPLIES, "tea": {**REPLIES["tea"], "generate": "raise"}})
    stats = run_pipeline(settings(source, out), model=failing.model(), progress=None)
    assert stats.errors["generate"] == 1 and stats.kept == 2
    (error,) = [row for row in read_jsonl(side_file(out, "errors.jsonl")) if row["kind"] == "error"]
    assert error["doc_id"] == "tea" and error["stage"] == "generate" and "connection reset" in error["message"]

    again = Script(REPLIES)
    stats = run_pipeline(settings(source, out), model=again.model(), progress=None)
    assert again.documents() == {"tea"} and stats.skipped == 3


def test_output_keeps_input_order_whatever_finishes_first(tmp_path: Path) -> None:
    names = ["tea", "everest", "ohm", "banner"]
    out = tmp_path / "pairs.jsonl"
    replies = {**REPLIES, "tea": {**REPLIES["tea"], "check": json.dumps({"verdicts": [{"pair": 1, **PASS}]})}}
    run_pipeline(settings(write_input(tmp_path, names), out), model=Script(replies).model(), progress=None)
    finished = [entry["doc_id"] for entry in read_jsonl(side_file(out, "journal.jsonl"))]
    assert finished != names  # the banner (one call) finished before the tea (four calls)
    assert [record["doc_id"] for record in read_jsonl(out)] == ["tea", "everest", "everest"]


# ----- resume --------------------------------------------------------------------------------------------------


def test_killed_run_resumes_to_the_same_output_without_asking_again(tmp_path: Path) -> None:
    source = write_input(tmp_path)
    whole = tmp_path / "whole.jsonl"
    run_pipeline(settings(source, whole), model=Script(REPLIES).model(), progress=None)

    out = tmp_path / "resumed.jsonl"
    killed = Script(REPLIES, kill_after=5)  # everest's 4 calls and banner's filter, then the process dies
    with pytest.raises(Killed):
        run_pipeline(settings(source, out, max_connections=1), model=killed.model(), progress=None)
    assert killed.documents() == {"everest", "banner"}
    assert read_jsonl(out) == EXPECTED_RECORDS  # what was finished is already in OUT

    resumed = Script(REPLIES)
    stats = run_pipeline(settings(source, out, max_connections=1), model=resumed.model(), progress=None)
    assert resumed.documents() == {"ohm", "tea"}
    assert stats.skipped == 2
    assert out.read_text() == whole.read_text()


def test_torn_journal_line_is_redone_and_never_duplicated(tmp_path: Path) -> None:
    source, out = write_input(tmp_path), tmp_path / "pairs.parquet"
    run_pipeline(settings(source, out), model=Script(REPLIES).model(), progress=None)
    journal = side_file(out, "journal.jsonl")
    lines = journal.read_text().splitlines(keepends=True)
    everest = next(line for line in lines if '"everest"' in line)
    others = [line for line in lines if line is not everest]
    journal.write_text("".join(others) + everest[: len(everest) // 2])  # killed while writing everest's line

    again = Script(REPLIES)
    stats = run_pipeline(settings(source, out), model=again.model(), progress=None)
    assert again.documents() == {"everest"} and stats.skipped == 3
    assert pd.read_parquet(out).to_dict("records") == EXPECTED_RECORDS
    assert len(read_jsonl(journal)) == 4


def test_changed_settings_are_refused(tmp_path: Path) -> None:
    source, out = write_input(tmp_path), tmp_path / "pairs.jsonl"
    run_pipeline(settings(source, out), model=Script(REPLIES).model(), progress=None)
    script = Script(REPLIES)
    with pytest.raises(UserError, match="other settings.*max_chars.*new OUT"):
        run_pipeline(settings(source, out, max_chars=100), model=script.model(), progress=None)
    gsm = tmp_path / "eval.txt"
    gsm.write_text("What is the capital of France and of Spain?\n")
    with pytest.raises(UserError, match="decontaminate"):
        run_pipeline(settings(source, out, decontaminate=(str(gsm),)), model=script.model(), progress=None)
    assert not script.calls


# ----- bad input -----------------------------------------------------------------------------------------------


def test_bad_input_is_refused_before_any_model_call(tmp_path: Path) -> None:
    script = Script(REPLIES)
    out = tmp_path / "pairs.jsonl"

    def run(source: Path, target: Path = out, **changes: Any) -> None:
        run_pipeline(settings(source, target, **changes), model=script.model(), progress=None)

    with pytest.raises(UserError, match="missing.jsonl does not exist"):
        run(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": TEXTS["tea"]}) + "\n{not json\n")
    with pytest.raises(UserError, match=r"bad.jsonl, line 2: not valid JSON"):
        run(bad)
    bad.write_text(json.dumps({"text": TEXTS["tea"]}) + "\n" + json.dumps({"id": "x", "body": "hi"}) + "\n")
    with pytest.raises(UserError, match=r"line 2: no 'text'"):
        run(bad)
    bad.write_text(json.dumps({"text": TEXTS["tea"]}) + "\n" + json.dumps({"text": TEXTS["tea"]}) + "\n")
    with pytest.raises(UserError, match=r"line 2: id .* already used"):
        run(bad)
    good = write_input(tmp_path)
    with pytest.raises(UserError, match="must end in .jsonl or .parquet"):
        run(good, tmp_path / "pairs.csv")
    with pytest.raises(UserError, match="decontamination set .*nowhere.jsonl does not exist"):
        run(good, decontaminate=(str(tmp_path / "nowhere.jsonl"),))
    unrelated = tmp_path / "mine.jsonl"
    unrelated.write_text("{}\n")
    with pytest.raises(UserError, match="not written by this pipeline"):
        run(good, unrelated)
    with pytest.raises(UserError, match="invalid max_connections"):
        settings(good, out, max_connections=0)
    assert not script.calls


def test_inputs_default_ids_and_sources(tmp_path: Path) -> None:
    plain = tmp_path / "plain.jsonl"
    plain.write_text(json.dumps({"text": "one"}) + "\n\n" + json.dumps({"text": "two", "source": "book"}) + "\n")
    first, second = read_documents(plain)
    assert first.source == f"{plain}:1" and second.source == "book"
    assert first.id == read_documents(plain)[0].id != second.id  # a stable hash of the text

    folder = tmp_path / "pages"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("alpha")
    (folder / "sub" / "b.txt").write_text("beta")
    (folder / "skip.html").write_text("gamma")
    assert [(d.id, d.source, d.text) for d in read_documents(folder)] == [("a.md", "a.md", "alpha"),
                                                                          ("sub/b.txt", "sub/b.txt", "beta")]

    table = tmp_path / "docs.parquet"
    pd.DataFrame({"text": ["one", "two"], "url": ["https://example.org/1", None]}).to_parquet(table)
    docs = read_documents(table)
    assert [d.source for d in docs] == ["https://example.org/1", f"{table}:2"]


def test_parquet_in_and_out(tmp_path: Path) -> None:
    table = tmp_path / "docs.parquet"
    pd.DataFrame([{"id": name, "url": f"https://example.org/{name}", "text": text}
                  for name, text in TEXTS.items()]).to_parquet(table)
    out = tmp_path / "pairs.parquet"
    run_pipeline(settings(table, out), model=Script(REPLIES).model(), progress=None)
    assert pd.read_parquet(out).to_dict("records") == EXPECTED_RECORDS
    rows = grpo_dataset(out)
    assert [row["answer"] for row in rows] == ["1953", "8,849"]


def test_demo_preset_points_at_the_bundled_documents() -> None:
    demo = webscale.preset("demo", model="mockllm/model", limit=2)
    docs = read_documents(demo.source)
    assert 6 <= len(docs) <= 8 and demo.model == "mockllm/model" and demo.limit == 2
    assert all(doc.source.startswith("https://example.org/") for doc in docs)
    with pytest.raises(UserError, match="unknown webscale preset"):
        webscale.preset("huge")
    with pytest.raises(UserError, match="unknown webscale setting"):
        webscale.preset("demo", connections=3)


# ----- decontamination -----------------------------------------------------------------------------------------


def test_decontamination_removes_a_copied_gsm8k_question(tmp_path: Path, shared_data: Path) -> None:
    gsm8k = shared_data / "gsm8k" / "test.jsonl"
    items = load_eval_items(gsm8k)
    copied = items[0]
    checker = Decontaminator(items)
    assert checker.contaminated(f"Here is a puzzle. {copied.upper()}", "18")
    assert not checker.contaminated("In which year did Edmund Hillary and Tenzing Norgay first climb Mount "
                                    "Everest, the highest mountain on Earth?", "1953")

    replies = {**REPLIES, "everest": {**REPLIES["everest"], "generate": json.dumps({"pairs": [
        {**EVEREST_PAIRS[0], "question": copied}, EVEREST_PAIRS[1]]})}}
    out = tmp_path / "pairs.jsonl"
    stats = run_pipeline(settings(write_input(tmp_path), out, decontaminate=(str(gsm8k),)),
                         model=Script(replies).model(), progress=None)
    assert (stats.passed, stats.decontaminated, stats.kept) == (2, 1, 1)
    assert read_jsonl(out) == EXPECTED_RECORDS[1:]


def test_short_texts_overlap_only_when_whole() -> None:
    checker = Decontaminator(["A train leaves the station at noon and travels at sixty miles per hour for three "
                              "hours. How far does it go?", "What is the capital city of France?"], n=13)
    assert checker.overlaps("travels at sixty miles per hour for three hours")  # 9 words, all inside an item
    assert not checker.overlaps("travels at sixty miles per hour for four hours")
    assert checker.overlaps("Geography quiz, question one: what is the capital city of France? Explain.")
    assert not checker.overlaps("the capital city")  # too short to tell anything
    assert Decontaminator([], n=13).overlaps("anything at all in this question here") is False


# ----- reward --------------------------------------------------------------------------------------------------


def test_reward_matches_numbers_and_text() -> None:
    completions = [
        "The height is given. <answer>8849</answer>",
        "<answer>8,848</answer>",
        "Let me think.\nIt is 1,000.0",
        "The answer is the Nile.",
        "<answer>NILE RIVER</answer>",
        "I think it is $25.",
        "<answer>25 dollars</answer>",
        "",
    ]
    answers = ["8,849", "8,849", "1000", "Nile", "nile", "$25", "$25", "4"]
    assert webscale_reward(completions, answers, domain=["x"] * 8) == [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0]
    assert answer_matches("Camellia Sinensis.", "camellia sinensis")
    assert answer_matches("an apple", "Apple") and not answer_matches(None, "Apple")


def test_grpo_dataset_rows(tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    run_pipeline(settings(write_input(tmp_path), out), model=Script(REPLIES).model(), progress=None)
    rows = grpo_dataset(out)
    assert len(rows) == 2
    first = rows[0]
    assert first["answer"] == "1953" and first["domain"] == "travel"
    (message,) = first["prompt"]
    assert message["role"] == "user" and message["content"].startswith(EVEREST_PAIRS[0]["question"])
    assert "<answer>" in message["content"]
    assert webscale_reward(["<answer>1953</answer>"], [first["answer"]]) == [1.0]
    with pytest.raises(UserError, match="does not exist"):
        grpo_dataset(tmp_path / "none.jsonl")


@pytest.mark.model
def test_the_grpo_runner_trains_on_the_pipeline_output(tmp_path: Path) -> None:
    from ttclab.training.grpo import GRPOSettings, train_grpo

    out = tmp_path / "pairs.jsonl"
    run_pipeline(settings(write_input(tmp_path), out), model=Script(REPLIES).model(), progress=None)
    settings_ = GRPOSettings(num_generations=2, batch_size=2, max_steps=2, max_completion_length=8, save_steps=10,
                             progress=False)
    result = train_grpo("local", grpo_dataset(out), [webscale_reward], tmp_path / "grpo", settings_)
    assert result["steps"] == 2 and (tmp_path / "grpo" / "adapter" / "adapter_config.json").exists()
    rows = [json.loads(line) for line in (tmp_path / "grpo" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(0.0 <= row["rewards/webscale_reward/mean"] <= 1.0 for row in rows)
