"""The one config resolver: precedence, declared ranges, and errors that name key, value
and range, all before any stage runs."""
import json
import re

import pytest

from pipelines.core.config import ConfigError, HintQConfig, allowed, resolve_config, settings


def test_overrides_are_coerced_and_round_trip():
    cfg = HintQConfig().with_overrides({"rank.k": 10, "verify.similarity_floor": "0.6", "evaluate.ks": "5,10"})
    assert cfg.rank.k == 10 and cfg.verify.similarity_floor == 0.6 and cfg.evaluate.ks == (5, 10)
    assert HintQConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown config key 'rank.nope'"):
        HintQConfig().with_overrides({"rank.nope": 1})


def test_precedence_defaults_file_set_then_explicit_flags(tmp_path):
    config_file = tmp_path / "hintq.json"
    config_file.write_text(json.dumps({"rank": {"k": 20}, "generate": {"model": "/models/from-file"}}))
    assert resolve_config().rank.k == 30
    assert resolve_config(config_file).rank.k == 20
    assert resolve_config(config_file, ["rank.k=12"]).rank.k == 12
    # --set beats the file; an explicit --model beats both; a flag left out (None) does not count.
    cfg = resolve_config(config_file, ["generate.model=/models/from-set"], flags={"generate.model": None})
    assert cfg.generate.model == "/models/from-set"
    cfg = resolve_config(config_file, ["generate.model=/models/from-set"], flags={"generate.model": "/models/flag"})
    assert cfg.generate.model == "/models/flag"
    assert resolve_config(config_file).generate.model == "/models/from-file"


@pytest.mark.parametrize("override, key, value", [
    ("rank.k=0", "rank.k", "0"),
    ("rank.k=10000", "rank.k", "10000"),
    ("verify.similarity_floor=-0.5", "verify.similarity_floor", "-0.5"),
    ("x2q.k=-1", "x2q.k", "-1"),
    ("generate.temperature=nan", "generate.temperature", "nan"),
    ("evaluate.ks=0,10", "evaluate.ks", "(0, 10)"),
    ("generate.dtype=int8", "generate.dtype", "'int8'"),
    ("publish.shards=0", "publish.shards", "0"),
])
def test_a_value_out_of_range_is_refused_naming_key_value_and_range(override, key, value):
    with pytest.raises(ConfigError) as err:
        resolve_config(overrides=[override])
    message = str(err.value)
    assert message.startswith(f"{key}={value}") and allowed(settings()[key]) in message


def test_wrong_types_malformed_overrides_and_disagreeing_settings_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"rank\.k='abc' is not a valid int; allowed: 1\.\.500"):
        resolve_config(overrides=["rank.k=abc"])
    with pytest.raises(ConfigError, match=r"rank\.k=2\.5 is not a valid int"):
        resolve_config(overrides=["rank.k=2.5"])
    with pytest.raises(ConfigError, match="expected key=value"):
        resolve_config(overrides=["rank.k"])
    with pytest.raises(ConfigError, match=re.escape("verify.min_hits must be <= verify.top_k")):
        resolve_config(overrides=["verify.min_hits=20"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rank": {"k": 0}}))
    with pytest.raises(ConfigError, match=r"rank\.k=0 is out of range"):
        resolve_config(bad)
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="config file"):
        resolve_config(bad)


def test_every_setting_declares_what_it_allows_and_its_default_is_allowed():
    for key, spec in settings().items():
        assert allowed(spec) != "any", f"{key} declares no range"
    assert resolve_config() == HintQConfig()  # the defaults pass their own checks


def test_readme_documents_every_setting_with_its_range():
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Configuration"):]
    for key, spec in settings().items():
        row = f"| `{key}` |"
        assert row in section and allowed(spec) in section.split(row, 1)[1].split("\n", 1)[0], key


def _fake_llm(monkeypatch, on_build) -> None:
    """vllm.LLM replaced by a fake that loads no model and calls `on_build(kwargs)` where
    the engine would be built."""
    import vllm

    class RecordingLLM:
        def __init__(self, **kwargs):
            on_build(kwargs)

        def generate(self, *args, **kwargs):
            return []

    monkeypatch.setattr(vllm, "LLM", RecordingLLM)


def test_the_engine_is_built_with_the_configured_scheduler_and_kv_cache(monkeypatch):
    """generate.max_num_seqs reaches vllm.LLM and generate.cpu_kv_cache_gib the CPU
    engine's KV cache (a fake LLM records how it was built; the real engine's own
    settings: tests/e2e/test_nightly_real.py)."""
    import dataclasses

    import vllm

    from pipelines.engines.generator import VllmGeneratorSpec

    built = {}
    _fake_llm(monkeypatch, lambda kwargs: built.update(
        kwargs, kv_cache_env=vllm.envs.VLLM_CPU_KVCACHE_SPACE))  # as vLLM reads it
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")  # what the process had; the config wins
    vllm.envs.enable_envs_cache()  # as after an engine has started in this process
    cfg = dataclasses.replace(HintQConfig().generate, dtype="float32", max_num_seqs=7, cpu_kv_cache_gib=3)
    VllmGeneratorSpec("a-model", "/models/a-model", "r1", cfg).load_engine()
    assert built["max_num_seqs"] == 7 and built["kv_cache_env"] == 3


def test_the_engine_sends_no_usage_stats_unless_the_operator_asks(monkeypatch):
    """vLLM (its GPU worker) posts usage stats to its server unless told not to: asked
    through vLLM's own check, as the engine is built."""
    import dataclasses

    import vllm
    from vllm.usage import usage_lib

    from pipelines.engines.generator import VllmGeneratorSpec

    seen = []

    def ask_vllm(kwargs):
        monkeypatch.setattr(usage_lib, "_USAGE_STATS_ENABLED", None)  # vLLM caches its answer
        seen.append(usage_lib.is_usage_stats_enabled())

    _fake_llm(monkeypatch, ask_vllm)
    cfg = dataclasses.replace(HintQConfig().generate, dtype="float32")
    spec = VllmGeneratorSpec("a-model", "/models/a-model", "r1", cfg)
    for env in ("VLLM_NO_USAGE_STATS", "VLLM_DO_NOT_TRACK", "DO_NOT_TRACK"):
        monkeypatch.delenv(env, raising=False)
    vllm.envs.disable_envs_cache()  # a process where no engine has started yet
    monkeypatch.setattr(usage_lib, "_USAGE_STATS_DO_NOT_TRACK_PATH", "/nonexistent/do_not_track")
    spec.load_engine()
    vllm.envs.enable_envs_cache()  # as after that engine's start
    monkeypatch.setenv("VLLM_NO_USAGE_STATS", "0")  # an operator who wants them sent
    spec.load_engine()
    assert seen == [False, True]


def test_auto_dtype_is_bfloat16_only_where_the_hardware_computes_it():
    from pipelines.engines.generator import engine_dtype

    assert engine_dtype("auto", cpu_flags=frozenset({"avx2", "fma"}), has_cuda=False) == "float32"
    assert engine_dtype("auto", cpu_flags=frozenset({"avx512f", "avx512_bf16"}), has_cuda=False) == "bfloat16"
    assert engine_dtype("auto", cpu_flags=frozenset({"amx_bf16"}), has_cuda=False) == "bfloat16"
    assert engine_dtype("auto", cpu_flags=frozenset(), has_cuda=True) == "bfloat16"
    assert engine_dtype("bfloat16", cpu_flags=frozenset(), has_cuda=False) == "bfloat16", "explicit wins"
