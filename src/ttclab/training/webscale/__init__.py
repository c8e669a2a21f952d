"""Webscale-RL (Cen et al., arXiv 2510.06499): pretraining documents -> short, verifiable question-answer pairs
-> GRPO. prompts.py (the four stages' prompts), parsing.py (their replies), decontamination.py, pipeline.py
(the journaled, resumable run) and reward.py (training on the output); see docs/webscale.md."""

from ttclab.training.webscale.decontamination import Decontaminator, load_eval_items
from ttclab.training.webscale.parsing import (
    DOMAINS,
    MalformedReply,
    Pair,
    Verdict,
    parse_check,
    parse_filter,
    parse_generate,
    parse_identify,
)
from ttclab.training.webscale.pipeline import (
    PRESETS,
    STAGES,
    Document,
    Stats,
    WebscaleSettings,
    preset,
    read_documents,
    run_pipeline,
    run_pipeline_async,
)
from ttclab.training.webscale.prompts import FEW_SHOT, INTRO
from ttclab.training.webscale.reward import answer_matches, grpo_dataset, webscale_reward

__all__ = ["DOMAINS", "FEW_SHOT", "INTRO", "PRESETS", "STAGES", "Decontaminator", "Document", "MalformedReply",
           "Pair", "Stats", "Verdict", "WebscaleSettings", "answer_matches", "grpo_dataset", "load_eval_items",
           "parse_check", "parse_filter", "parse_generate", "parse_identify", "preset", "read_documents",
           "run_pipeline", "run_pipeline_async", "webscale_reward"]
