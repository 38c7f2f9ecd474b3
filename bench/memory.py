"""Run a command and record its wall time and the peak memory of its whole process tree.

A grader starts child processes, so one process's peak says little: we sample every process of
the tree every ``interval`` seconds and keep the peak of the *sums*. Two sums are kept:
RSS (resident pages; pages shared between processes, like torch's libraries, count once per
process: an upper bound) and PSS (shared pages split between their users: what the processes
together take from the machine, the figure a container's memory limit is closest to).
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass

import psutil

MIB = 1024 * 1024


@dataclass
class TreeRun:
    command: list[str]
    returncode: int
    wall_seconds: float
    peak_rss_mib: float  # peak over time of the sum over processes
    peak_pss_mib: float
    max_processes: int
    output: str  # stdout + stderr, last 4000 characters


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _sums(processes: list[psutil.Process]) -> tuple[int, int]:
    rss = pss = 0
    for process in processes:
        try:
            info = process.memory_full_info()  # reads /proc/PID/smaps_rollup on Linux
        except psutil.AccessDenied:
            try:
                info = process.memory_info()
            except psutil.Error:
                continue
        except psutil.Error:  # the process ended between listing and reading
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return rss, pss


def run_tree(command: list[str], *, cwd: str | None = None, env: dict | None = None, timeout: float = 900,
             interval: float = 0.02) -> TreeRun:
    """Run ``command`` to completion, sampling the memory of it and all its descendants."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    root = psutil.Process(process.pid)
    peak_rss = peak_pss = most = 0
    chunks: list[str] = []

    reader = threading.Thread(target=lambda: chunks.append(process.stdout.read()), daemon=True)
    reader.start()
    try:
        while process.poll() is None:
            if time.perf_counter() - start > timeout:
                raise subprocess.TimeoutExpired(command, timeout)
            processes = _tree(root)
            rss, pss = _sums(processes)
            peak_rss, peak_pss, most = max(peak_rss, rss), max(peak_pss, pss), max(most, len(processes))
            time.sleep(interval)
    finally:
        if process.poll() is None:
            for child in _tree(root)[::-1]:
                try:
                    child.kill()
                except psutil.Error:
                    pass
            process.wait()
    wall = time.perf_counter() - start
    reader.join(timeout=5)
    return TreeRun(command, process.returncode, wall, peak_rss / MIB, peak_pss / MIB, most, "".join(chunks)[-4000:])
