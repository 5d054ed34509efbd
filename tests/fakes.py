"""Fakes of the model only (never of the pipeline), for narrow pipeline tests.

FakeGeneratorSpec answers each prompt deterministically from the prompt's own quoted
lines, like a model that parrots its input (a Think prompt also gets a reasoning); a
prompt keyed `FAIL_USER` makes the engine raise, as a broken batch would.
"""
from __future__ import annotations

import json
import os
import re
import time

from pipelines.core.prompts import TASK_THINK
from pipelines.core.records import Generation
from pipelines.engines.generator import Engine, GeneratorSpec, PromptCodec

FAIL_USER = "U-RAISES"
_QUOTED = re.compile(r'"([^"]+)"')


class FakeCodec(PromptCodec):
    def render(self, messages):
        return "\n".join(f"<{m['role']}>{m['content']}" for m in messages)

    def count_tokens(self, text):
        return len(text.split())


class FakeEngine(Engine):
    def __init__(self, answers: dict[str, str] | None = None):
        self.answers = answers or {}
        self.calls: list[list[str]] = []

    def generate(self, prompts):
        self.calls.append([p.key for p in prompts])
        out = []
        for p in prompts:
            if p.key == FAIL_USER:
                out.append(Generation(p.key, p.task, "RuntimeError: engine failed", "error", p.n_tokens, 0,
                                      p.subject))
                continue
            text, finish = self.answers.get(p.key), "stop"
            if isinstance(text, tuple):  # (answer, finish_reason), e.g. cut at max_tokens
                text, finish = text
            if text is None:
                quoted = _QUOTED.findall(p.text)
                answer = {"queries": [" ".join(e.split()[-2:]) for e in quoted][:5]}
                if p.task == TASK_THINK:
                    answer = {"reasoning": f"they look at {quoted[0] if quoted else 'something'}", **answer}
                text = json.dumps(answer)
            out.append(Generation(p.key, p.task, text, finish, p.n_tokens, len(text.split()), p.subject))
        return out


class FakeGeneratorSpec(GeneratorSpec):
    name = "fake-generator"
    revision = "test"

    def __init__(self, answers: dict[str, str] | None = None):
        self.answers = answers or {}

    def load_codec(self):
        return FakeCodec()

    def load_engine(self):
        return FakeEngine(self.answers)


class SlowStartGeneratorSpec(FakeGeneratorSpec):
    """The fake model, started as vLLM is (slow_start): a night reads its day beside it."""

    name = "slow-start-generator"
    slow_start = True
    START_S = 0.3

    def load_engine(self):
        time.sleep(self.START_S)
        return super().load_engine()


class BrokenGeneratorSpec(FakeGeneratorSpec):
    """A model that cannot be loaded."""

    name = "broken-generator"

    def load_engine(self):
        from pipelines.engines.model_store import ModelUnavailable

        raise ModelUnavailable("weights are corrupt (test)")


def reader_that_exits(day, report):
    """A day's reader (jobs/clean_day.py) that dies at once."""
    os._exit(3)


def reader_that_hangs(day, report):
    """A day's reader that never ends."""
    time.sleep(3600)
