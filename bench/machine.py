"""The machine's own limit: the rate of a large matrix multiply, with the threads training uses."""

from __future__ import annotations

import os
import platform
import statistics
import time

import torch

from grader.config import usable_cpus


def matmul_gflops(size: int = 2048, dtype: torch.dtype = torch.float32, seconds: float = 1.0, repeats: int = 5) -> float:
    """Median GFLOP/s of ``torch.mm`` on two ``size x size`` matrices (2 * size^3 FLOPs per product).

    2048 is large enough for MKL/oneDNN to reach its peak and small enough to time in ~1 s.
    """
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    out = torch.empty(size, size, dtype=dtype)
    torch.mm(a, b, out=out)  # warm-up: thread pool, packing buffers
    flops = 2 * size ** 3
    start = time.perf_counter()
    torch.mm(a, b, out=out)
    per_product = max(time.perf_counter() - start, 1e-6)
    products = max(1, round(seconds / repeats / per_product))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(products):
            torch.mm(a, b, out=out)
        rates.append(flops * products / (time.perf_counter() - start) / 1e9)
    return statistics.median(rates)


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo where there is one, else what platform knows."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> dict:
    """What the figures depend on: CPU, cores, threads, torch build, native bf16."""
    from assignment.precision import cpu_has_native_bf16

    return {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable_cpus(),  # the grader's own count (affinity, cgroup quota): one source of truth
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": cpu_has_native_bf16(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
