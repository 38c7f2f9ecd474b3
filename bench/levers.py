"""``python -m bench.levers``: A/B timings of the speed levers the issue lists, in one process.

Each lever compares variants of one training step (or one evaluation) of the reference models on a
fixed synthetic batch, interleaved round by round so a busy machine slows every variant alike;
the figure is the median over rounds. This isolates the model arithmetic from data preparation.
The harness (assignment/train.py) keeps the winners; docs/performance.md ("Levers") explains each decision.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from assignment.precision import attention_in_fp32, cpu_has_native_bf16
from assignment.train import EVAL_BATCH_SIZE
from bench.training import reference_model

BATCH = 256


def _step(key: str, *, channels_last: bool = True, bf16: bool = False, fp32_attention: bool = False,
          optimizer: dict | None = None, backend: SDPBackend | None = None, compile_model: bool = False) -> Callable[[], None]:
    """A closure running one training step of a fresh reference ``key`` with the given settings."""
    torch.manual_seed(0)
    model = reference_model(key)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=layout)
    x = torch.randn(BATCH, 1, 28, 28).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (BATCH,))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, **(optimizer or {}))
    forward = torch.compile(model) if compile_model else model

    def step() -> None:
        with (torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext(),
              attention_in_fp32(model, "cpu") if fp32_attention else nullcontext(),
              sdpa_kernel(backend) if backend is not None else nullcontext()):
            logits = forward(x)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _eval(key: str, batch: int, bf16: bool = False) -> Callable[[], None]:
    """A closure classifying 2048 random images in batches of ``batch`` (what ``evaluate`` does)."""
    model = reference_model(key).to(memory_format=torch.channels_last).eval()
    images = torch.randn(2048, 1, 28, 28).contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def run() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
            for i in range(0, len(images), batch):
                model(images[i:i + batch]).argmax(1)

    return run


def levers(quick: bool = False) -> dict[str, dict[str, Callable[[], Callable[[], None]]]]:
    """Lever name -> {variant name: factory of the timed closure}; the first variant is the baseline."""
    bf16 = cpu_has_native_bf16()
    table: dict[str, dict[str, Callable[[], Callable[[], None]]]] = {}
    for key in ("base", "se", "attn"):
        table[f"{key}: layout"] = {"channels_last": lambda k=key: _step(k),
                                   "contiguous": lambda k=key: _step(k, channels_last=False)}
        if bf16:
            table[f"{key}: precision"] = {"fp32": lambda k=key: _step(k),
                                          "bf16 autocast": lambda k=key: _step(k, bf16=True)}
            if key == "attn":
                table[f"{key}: precision"]["bf16, attention fp32"] = lambda: _step("attn", bf16=True, fp32_attention=True)
        table[f"{key}: AdamW"] = {"for-loop": lambda k=key: _step(k, optimizer={"foreach": False}),
                                  "foreach": lambda k=key: _step(k, optimizer={"foreach": True}),
                                  "fused": lambda k=key: _step(k, optimizer={"fused": True})}
        eval_sizes = (EVAL_BATCH_SIZE, 512, 2048) if quick else (128, EVAL_BATCH_SIZE, 512, 1024, 2048)
        table[f"{key}: eval batch"] = {f"{b}": lambda k=key, b=b: _eval(k, b) for b in eval_sizes}
    table["attn: SDPA backend"] = {"default (flash)": lambda: _step("attn"),
                                   "math": lambda: _step("attn", backend=SDPBackend.MATH)}
    return table


def time_lever(variants: dict[str, Callable[[], Callable[[], None]]], rounds: int, reps: int) -> dict[str, float]:
    """Median seconds per call of each variant; rounds interleave the variants."""
    runs = {name: factory() for name, factory in variants.items()}
    for run in runs.values():
        run()  # warm-up: primitive caches, allocator
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            for _ in range(reps):
                run()
            samples[name].append((time.perf_counter() - start) / reps)
    return {name: statistics.median(values) for name, values in samples.items()}


def time_compile(key: str, reps: int) -> dict:
    """torch.compile: seconds until the first compiled step has run, then eager vs compiled per step."""
    start = time.perf_counter()
    compiled = _step(key, compile_model=True)
    compiled()
    compile_seconds = time.perf_counter() - start
    return {"compile_seconds": compile_seconds,
            **time_lever({"eager": lambda: _step(key), "compiled": lambda: compiled}, rounds=3, reps=reps)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.levers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="", help="substring of the lever names to run (e.g. 'attn')")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow: compiles each model)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rounds, reps = (1, 1) if args.quick else (5, 3)
    results: dict = {"threads": torch.get_num_threads(), "batch": BATCH, "levers": {}}
    print(f"{torch.get_num_threads()} threads; seconds per training step of {BATCH} images (eval: per 2048 images), "
          f"median of {rounds} interleaved rounds", flush=True)
    for name, variants in levers(args.quick).items():
        if args.only not in name:
            continue
        timed = time_lever(variants, rounds, reps)
        baseline = next(iter(timed.values()))
        results["levers"][name] = timed
        print(f"{name:24s} " + "  ".join(f"{v}: {s * 1e3:.1f} ms ({baseline / s:.2f}x)" for v, s in timed.items()), flush=True)
    if args.compile:
        for key in ("base", "se", "attn"):
            if args.only in f"{key}: compile":
                results["levers"][f"{key}: torch.compile"] = timed = time_compile(key, reps)
                print(f"{key + ': torch.compile':24s} compile {timed['compile_seconds']:.1f} s; eager "
                      f"{timed['eager'] * 1e3:.1f} ms, compiled {timed['compiled'] * 1e3:.1f} ms "
                      f"({timed['eager'] / timed['compiled']:.2f}x)", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
