"""Training cost of IL-SFT (issue 16, "It must show" 3): samples, tokens, tokens/s, wall time
and peak RSS of `pipelines/engines/finetune.py`, the code `hintq train` runs.

    python benchmarks/finetune_cost.py --warehouse W --days 2026-11-01,2026-11-02 --task direct
    python benchmarks/finetune_cost.py --synthetic 64 --method full --device cuda --random-weights

`--random-weights`: a model of the base's shape with random weights (config only), for a
machine that cannot hold the real weights (the GPU machine gets 64 MiB per call); speed
depends on the shape, not on the values. `--synthetic N`: N (prompt, answer) pairs of the
sample world's mean lengths (157 prompt tokens, 10 short queries) instead of real samples.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.core.config import PACKAGED_GENERATOR, TrainConfig  # noqa: E402
from pipelines.engines.finetune import finetune, peak_rss_mb  # noqa: E402


def synthetic_pairs(n: int) -> list[tuple[str, str]]:
    lines = "\n".join(f'- clicked: "nordia waterproof trail item {i} running shoes"' for i in range(8))
    prompt = (f"<|im_start|>system\nYou suggest e-commerce search queries.<|im_end|>\n<|im_start|>user\n"
              f"The shopper recently:\n{lines}\n\nWrite up to 10 different short search queries.<|im_end|>\n"
              f"<|im_start|>assistant\n")
    answer = json.dumps({"queries": [f"trail shoes size {i}" for i in range(10)]}, separators=(",", ":"))
    return [(prompt.replace("item 0", f"item {k}"), answer) for k in range(n)]


def random_weight_copy(base: str, out: Path) -> str:
    import shutil

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from pipelines.engines.finetune import TOKENIZER_FILES

    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(base)).save_pretrained(out)
    for name in TOKENIZER_FILES:
        if (Path(base) / name).exists():
            shutil.copyfile(Path(base) / name, out / name)
    return str(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse")
    parser.add_argument("--days", default="")
    parser.add_argument("--task", default="direct")
    parser.add_argument("--synthetic", type=int, default=0)
    parser.add_argument("--method", default="lora", choices=["lora", "full"])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--base", default=None, help="model folder (default: the packaged model)")
    parser.add_argument("--random-weights", action="store_true")
    args = parser.parse_args(argv)
    if args.synthetic:
        pairs = synthetic_pairs(args.synthetic)
    else:
        from warehouse.samples import read_samples

        pairs = [(s.prompt, s.target) for d in args.days.split(",") for s in read_samples(args.warehouse, d, args.task)]
    if args.base:
        base = args.base
    else:
        from pipelines.engines.model_store import resolve_generator

        base = resolve_generator(PACKAGED_GENERATOR).path
    cfg = dataclasses.replace(TrainConfig(), method=args.method, epochs=args.epochs, batch_size=args.batch_size,
                              threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.random_weights:
            base = random_weight_copy(base, Path(tmp) / "random")
        started = time.perf_counter()
        run = finetune(base, pairs, Path(tmp) / "out", cfg, args.device, progress_every_s=30)
        wall = time.perf_counter() - started
    report = {**{k: v for k, v in run.to_dict().items() if k != "loss_curve"}, "wall_s_with_load_and_save": round(wall, 1),
              "peak_rss_mb": peak_rss_mb(), "pairs": len(pairs), "random_weights": args.random_weights,
              "threads": args.threads}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
