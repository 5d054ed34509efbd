"""The IL-SFT loop on a three-day world with a fake model: the samples job rebuilds the
prompts the nights sent and answers them with the next day; the trainer (a toy-size random
Llama with the real tokenizer) is deterministic and registers versions with their cards; a
night refuses a missing or damaged version and publishes nothing."""
import datetime as dt
import json
import shutil

import pyarrow.parquet as pq
import pytest

from evaluation.gate import decide, gate_samples, score
from jobs import build_samples, nightly, train_generator
from pipelines.core.config import HintQConfig, NormalizeConfig
from pipelines.core.normalize import DEFAULT_BLOCKLIST, QueryCleaner, load_blocklist
from pipelines.core.samples import FROM_TOP_UP, FROM_TYPED, Sample
from tests.fakes import FakeEngine, FakeGeneratorSpec
from warehouse.files import read_published
from warehouse.iceberg import history
from warehouse.inputs import read_input_day
from warehouse.models import (GeneratorVersionUnusable, generator_root, generator_versions, promote_generator,
                              promoted, resolve_registry)
from warehouse.samples import read_samples, samples_dir
from warehouse.versions import copy_warehouse

D1, D2, D3 = "2026-11-01", "2026-11-02", "2026-11-03"
SENT: dict[tuple[str, str], str] = {}  # (task, key) -> the prompt text the night sent


class _RecordingEngine(FakeEngine):
    def generate(self, prompts):
        for p in prompts:
            SENT[(p.task, p.key)] = p.text
        return super().generate(prompts)


class RecordingSpec(FakeGeneratorSpec):
    name = "recording-fake"

    def load_engine(self):
        return _RecordingEngine(self.answers)


def _night(root, day, table):
    nightly.run([f"--table={table}", f"--dt={day}", f"--input={root / 'input'}", f"--warehouse={root / 'wh'}"],
                generator=RecordingSpec())


def _samples(root, day, warehouse="wh"):
    return build_samples.run([f"--dt={day}", f"--input={root / 'input'}", f"--warehouse={root / warehouse}"],
                             generator=RecordingSpec())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from datasets.sample_world import write_world

    root = tmp_path_factory.mktemp("finetune_world")
    write_world(root / "input", dt.date.fromisoformat(D1), days=3, n_users=40, seed=5, n_items=500)
    SENT.clear()
    for table in ("x2q", "u2q"):
        _night(root, D1, table)
    return root, _samples(root, D1)


def test_every_prompt_is_a_sample_or_set_aside_and_is_the_prompt_the_night_sent(world):
    root, m = world
    assert m["labels_dt"] == D2 and m["top_up"]["partition"] == f"u2q/dt={D1}"
    for task in ("direct", "think"):
        assert m["prompts"][task] == m["samples"].get(task, 0) + sum(m["set_aside"][task].values())
    assert m["samples"]["direct"] > 0
    built = read_samples(root / "wh", D1, "direct") + read_samples(root / "wh", D1, "think")
    assert built
    for s in built:
        assert s.dt == D1 and s.labels_dt == D2
        assert s.prompt == SENT[(s.task, s.key)], "a training prompt is the prompt the night sent"
    aside = pq.read_table(samples_dir(root / "wh", D1) / "set_aside").to_pylist()
    assert len(aside) == sum(sum(v.values()) for v in m["set_aside"].values())
    assert all(r["reason"] and r["detail"] for r in aside)


def test_direct_answers_hold_what_the_user_typed_next_day_first(world):
    root, _ = world
    samples = read_samples(root / "wh", D1, "direct")
    typed = [s for s in samples if FROM_TYPED in s.origins]
    assert typed, "the sample world's shoppers type queries"
    # the answers are the next day's (D2) queries of the same user, normalized as queries are
    clean = QueryCleaner(NormalizeConfig(), load_blocklist(DEFAULT_BLOCKLIST))
    d2 = read_input_day(root / "input", D2, HintQConfig())
    typed_d2 = {(user, clean(e.event.query)) for user, events in d2.users.items() for e in events
                if e.event.event_type == "search"}
    for s in typed:
        for q, origin in zip(s.queries, s.origins):
            if origin == FROM_TYPED:
                assert (s.key, q) in typed_d2
    for s in samples:
        # typed queries first, then top-ups; never a top-up before a typed query
        origins = list(s.origins)
        assert origins == sorted(origins, key=lambda o: o != FROM_TYPED)
        assert json.loads(s.target) == {"queries": list(s.queries)}


def test_samples_of_a_day_never_read_the_day_after_their_answers(world, tmp_path):
    """The samples of D1 read D1 (prompts) and D2 (answers; the test above shows they are
    D2's queries): with D3 gone they are the same files."""
    root, manifest = world
    other = tmp_path / "no_d3"
    shutil.copytree(root / "input", other / "input")
    copy_warehouse(root / "wh", other / "wh", skip=("samples", "models"))
    shutil.rmtree(other / "input" / "events" / f"dt={D3}")
    shutil.rmtree(other / "input" / "catalog" / f"dt={D3}")
    assert sorted(f["sha256"] for f in _samples(other, D1)["files"]) == \
        sorted(f["sha256"] for f in manifest["files"])


def test_training_is_deterministic_and_registers_versions_with_their_card(world, tiny_base_model):
    root, _ = world
    wh = root / "wh"
    # Samples of the held-out day (D2) and after it are published too: training must not
    # read them (copies of D1's partition stand in for them).
    for later in (D2, D3):
        if not samples_dir(wh, later).exists():
            shutil.copytree(samples_dir(wh, D1), samples_dir(wh, later))
    args = ["--task=direct", f"--holdout={D2}", f"--warehouse={wh}", f"--base={tiny_base_model}", "--no-gate",
            "--set=train.epochs=1", "--set=train.batch_size=4", "--set=train.max_seq_tokens=1024"]
    first, second = train_generator.run(args), train_generator.run(args)
    assert (first["version"], second["version"]) == (1, 2)
    assert first["weights_sha256"] == second["weights_sha256"], "same data, seed and code: same weights"
    card = json.loads((generator_root(wh, "direct") / "v=1" / "MODEL_CARD.json").read_text())
    # learned only from prompt days before the held-out day: D1 (answers D2), never D2's
    assert card["data"]["prompt_days"] == [D1] and card["data"]["labels_days"] == [D2]
    assert card["data"]["held_out_day"] == D2
    assert card["training"]["steps"] > 0 and len(card["training"]["loss_curve"]) == card["training"]["steps"]
    assert card["base"]["name"] == str(tiny_base_model) and card["weights_sha256"] == first["weights_sha256"]
    assert generator_versions(wh, "direct") == [1, 2] and promoted(wh, "direct") is None
    assert first["gate"]["promoted"] is False


def test_nights_refuse_a_missing_or_damaged_version_and_publish_nothing(world, tiny_base_model, capsys):
    root, _ = world
    wh = root / "wh"
    if not generator_versions(wh, "direct"):
        train_generator.run(["--task=direct", f"--holdout={D2}", f"--warehouse={wh}", f"--base={tiny_base_model}",
                             "--no-gate", "--set=train.epochs=1", "--set=train.max_seq_tokens=1024"])
    version = generator_versions(wh, "direct")[-1]
    promote_generator(wh, "direct", version, {"by": "test", "why": "wiring"})
    assert resolve_registry(wh, "registry:promoted", "direct").version == version
    assert resolve_registry(wh, "registry:direct@latest").version == version
    before = history(wh, "u2q")

    def night(reference):
        code = nightly.main(["--table=u2q", f"--dt={D3}", f"--input={root / 'input'}", f"--warehouse={wh}",
                             f"--set=generate.model={reference}"])
        return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    code, out = night("registry:direct@9")
    assert code == 2 and out["refused"] == "ModelUnavailable" and "v=9" in out["error"]
    with pytest.raises(GeneratorVersionUnusable, match="no version of think was promoted"):
        resolve_registry(wh, "registry:promoted", "think")  # what an x2q night would serve
    weights = generator_root(wh, "direct") / f"v={version}" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    code, out = night("registry:direct@latest")
    assert code == 2 and "does not match the sha256 of its card" in out["error"]
    assert history(wh, "u2q") == before
    assert read_published(wh, "u2q", D3) is None


def test_the_gate_promotes_only_a_better_model():
    samples = [Sample("direct", f"U{i}", D1, D2, "p", 1, "{}", ("trail shoes", "tent"), (FROM_TYPED, FROM_TOP_UP))
               for i in range(4)]
    assert [s.key for s in gate_samples(samples, 10)] == ["U0", "U1", "U2", "U3"]
    served = score({"U0": ["tent", "trail shoes"]}, samples)  # "tent" is a top-up: not a target
    assert served["query_hr@10"] == 0.25 and served["mrr@10"] == 0.125
    better = score({"U0": ["trail shoes"], "U1": ["x", "trail shoes"]}, samples)
    assert decide(served, better, 10)[0] is True
    assert decide(served, served, 10)[0] is False, "a tie is not better"
    assert "kept, not served" in decide(better, served, 10)[1]
