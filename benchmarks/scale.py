"""How a night grows with shoppers: sample worlds of N shoppers (catalog 3 items per
shopper), the whole nightly job (x2q, then u2q) for one day, per-stage wall time, rows and
peak RSS of the job's process (each table's own, and the night's). Prints a table and
writes JSON. Measured, never asserted.

    .venv/pipeline/bin/python benchmarks/scale.py --users 1000 --record --out /tmp/scale
    .venv/pipeline/bin/python benchmarks/scale.py --users 10000,100000 --replay /tmp/scale/answers.jsonl --out /tmp/scale

`--record` runs the real model (vLLM) and records every answer keyed by a stable hash of
its prompt. `--replay FILE` answers from such a recording instead of a model: the answer of
a prompt seen when recording, else a recorded answer of the same task picked by the
prompt's hash (cycled), so the stages after generation get real-looking answers at sizes
the CPU generator cannot reach. Replayed runs are labelled `"generation": "replayed"`:
their generate seconds are not the model's.

Each size runs in its own process (`--night`), so its peak RSS is its own.

`--nights K` measures a night after K-1 others, as a nightly schedule runs it: a world of K
days, the nights before the last run first (each in its own process, generation replayed
from `--earlier-replay`, else as the measured night's), so the measured night carries the
day before's catalog rows (warehouse/catalog_index.py) and profiles; only it is reported.

    .venv/pipeline/bin/python benchmarks/scale.py --users 1000 --nights 2 --earlier-replay /tmp/scale/answers.jsonl --out /tmp/scale2
"""
from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DAY = dt.date(2026, 11, 1)

from pipelines.core.records import Generation  # noqa: E402
from pipelines.core.text import stable_hash  # noqa: E402
from pipelines.engines.generator import Engine, GeneratorSpec, VllmGeneratorSpec  # noqa: E402


class RecordingSpec(GeneratorSpec):
    """The real generator, writing each answer (task, prompt hash, text, finish, tokens) to a file."""

    def __init__(self, inner: VllmGeneratorSpec, path: str):
        self.inner, self.path = inner, path
        self.name, self.revision = inner.name, inner.revision
        self.slow_start = inner.slow_start

    def engine_tag(self):
        return f"recording:{self.inner.engine_tag()}"

    def describe(self):
        return {**self.inner.describe(), "recorded_to": self.path}

    def load_codec(self):
        return self.inner.load_codec()

    def load_engine(self):
        return _Recording(self.inner.load_engine(), self.path)


class _Recording(Engine):
    def __init__(self, engine: Engine, path: str):
        self.engine, self.path = engine, path

    def generate(self, prompts):
        out = self.engine.generate(prompts)
        with open(self.path, "a", encoding="utf-8") as f:
            for p, g in zip(prompts, out):
                f.write(json.dumps({"task": p.task, "prompt": f"{stable_hash(p.text):016x}", "text": g.text,
                                    "finish": g.finish_reason, "output_tokens": g.output_tokens}) + "\n")
        return out


class ReplaySpec(GeneratorSpec):
    """Answers from a recording (see the module doc); no model is loaded."""

    revision = "replay"

    def __init__(self, inner: VllmGeneratorSpec, path: str):
        self.inner, self.path = inner, path
        self.name = f"replay:{inner.name}"

    def engine_tag(self):
        return f"replay:{self.path}"

    def describe(self):
        return {"name": self.name, "revision": self.revision, "replayed_from": self.path}

    def load_codec(self):
        return self.inner.load_codec()  # the real tokenizer: prompt budgets as in production

    def load_engine(self):
        return _Replay(self.path)


class _Replay(Engine):
    def __init__(self, path: str):
        self.by_prompt, self.by_task = {}, {}
        with open(path, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                self.by_prompt[(r["task"], r["prompt"])] = r
                self.by_task.setdefault(r["task"], []).append(r)

    def generate(self, prompts):
        out = []
        for p in prompts:
            h = stable_hash(p.text)
            pool = self.by_task[p.task]
            r = self.by_prompt.get((p.task, f"{h:016x}")) or pool[h % len(pool)]
            out.append(Generation(p.key, p.task, r["text"], r["finish"], p.n_tokens, r["output_tokens"], p.subject))
        return out


def night(args) -> None:
    """One size, in this process: the world (if missing), x2q then u2q; one JSON line."""
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    from datasets.sample_world import write_world
    from jobs import nightly
    from pipelines.core.config import HintQConfig

    root = Path(args.out) / f"users_{args.night}"
    world = root / "input"
    day = DAY + dt.timedelta(days=args.day)
    started = time.perf_counter()
    if not (world / "events").exists():
        write_world(world, DAY, days=args.nights, n_users=args.night, seed=7, n_items=3 * args.night)
    world_s = time.perf_counter() - started
    real = VllmGeneratorSpec.for_config(HintQConfig())
    spec = (ReplaySpec(real, args.replay) if args.replay else
            RecordingSpec(real, str(Path(args.out) / "answers.jsonl")) if args.record else real)
    tables = {}
    peak_mb = peak_rss_mb()  # the world's
    for table in ("x2q", "u2q"):
        reset_peak_rss()
        t = time.perf_counter()
        profile = cProfile.Profile() if args.profile else None
        if profile:
            profile.enable()
        _, manifest = nightly.run([f"--table={table}", f"--dt={day}", f"--input={world}",
                                   f"--warehouse={root / 'wh'}", *args.job_args], generator=spec)
        if profile:
            profile.disable()
            profile.dump_stats(str(root / f"{table}.prof"))
        st = manifest["stages"]
        tables[table] = {
            "wall_s": round(time.perf_counter() - t, 1), "pipeline_s": manifest["timings"]["pipeline_s"],
            "stage_s": manifest["timings"]["stage_s"], "rows": manifest["rows"],
            "prompts": sum(st["generate"]["finish"].values()), "output_tokens": st["generate"]["output_tokens"],
            "events_read": manifest["inputs"]["events"]["read"], "catalog_read": manifest["inputs"]["catalog"]["read"],
            "distinct_queries_verified": st["verify"]["distinct_queries"],
            "candidates": st.get("rank_fill", {}).get("candidates"),
            "peak_rss_mb": peak_rss_mb(),
            # the process that read the day beside the engine's start (jobs/clean_day.py),
            # not in peak_rss_mb: its own peak, as it measured it
            "reader_peak_rss_mb": manifest["clean_day"].get("reader", {}).get("peak_rss_mb"),
        }
        peak_mb = max(peak_mb, tables[table]["peak_rss_mb"])
    print(json.dumps({"users": args.night, "items": 3 * args.night, "world_s": round(world_s, 1),
                      "dt": str(day), "night": f"{args.day + 1} of {args.nights}",
                      "generation": "replayed" if args.replay else "real model",
                      "peak_rss_mb": peak_mb, "tables": tables}), flush=True)


def peak_rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def reset_peak_rss() -> None:
    """Starts the process's peak RSS again from its current RSS (Linux: clear_refs 5), so
    each table's peak is its own; elsewhere the peak stays the process's so far."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def table_lines(rows: list[dict]) -> list[str]:
    stages = sorted({s for r in rows for t in r["tables"].values() for s in t["stage_s"]})
    lines = [f"{'users':>7} {'gen':>8} {'table':>5} {'wall s':>8} {'s/1k users':>10} {'peak RSS MB':>11}  "
             + "  ".join(f"{s:>10}" for s in stages) + f"  {'other':>8}"]
    for r in rows:
        for name, t in r["tables"].items():
            other = t["pipeline_s"] - sum(t["stage_s"].values())
            lines.append(f"{r['users']:>7} {r['generation'][:8]:>8} {name:>5} {t['wall_s']:>8.1f} "
                         f"{t['wall_s'] / r['users'] * 1000:>10.1f} {t.get('peak_rss_mb', r['peak_rss_mb']):>11}  "
                         + "  ".join(f"{t['stage_s'].get(s, 0):>10.1f}" for s in stages) + f"  {other:>8.1f}")
    for r in rows:
        wall = sum(t["wall_s"] for t in r["tables"].values())
        generate = sum(t["stage_s"].get("generate", 0) for t in r["tables"].values())
        which = f", night {r['night']}" if r.get("night", "1 of 1") != "1 of 1" else ""
        lines.append(f"{r['users']} users ({r['generation']}{which}): night {wall:.1f} s, generate {generate:.1f} s, "
                     f"everything else {wall - generate:.1f} s ({(wall - generate) / wall:.1%})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", default="1000", help="sizes, comma-separated")
    parser.add_argument("--out", required=True)
    parser.add_argument("--record", action="store_true", help="real model, answers recorded to OUT/answers.jsonl")
    parser.add_argument("--replay", default=None, help="answers recorded by --record")
    parser.add_argument("--profile", action="store_true", help="cProfile each table to OUT/users_N/TABLE.prof")
    parser.add_argument("--nights", type=int, default=1, help="measure the last of this many nights (see above)")
    parser.add_argument("--earlier-replay", default=None, help="answers for the nights before the measured one")
    parser.add_argument("--night", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--day", type=int, default=0, help=argparse.SUPPRESS)
    args, job_args = parser.parse_known_args()
    args.job_args = job_args
    if args.night is not None:
        night(args)
        return
    Path(args.out).mkdir(parents=True, exist_ok=True)
    rows = []
    measured = ["--record"] if args.record else [f"--replay={args.replay}"] if args.replay else []
    earlier = [f"--replay={args.earlier_replay}"] if args.earlier_replay else measured
    for n in (int(x) for x in args.users.split(",")):
        for day in range(args.nights):
            last = day == args.nights - 1
            cmd = [sys.executable, __file__, f"--night={n}", f"--nights={args.nights}", f"--day={day}",
                   f"--out={args.out}", *job_args, *(measured if last else earlier)]
            cmd += ["--profile"] if args.profile and last else []
            done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
            if done.returncode:
                print(done.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"users={n}, night {day + 1}: the night failed (exit {done.returncode})")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    out = Path(args.out) / f"scale_{int(time.time())}.json"
    out.write_text(json.dumps(rows, indent=1))
    print("\n".join(table_lines(rows)))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
