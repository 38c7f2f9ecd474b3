"""Benchmark of the lab's harness and grader against this machine's own limit (``python -m bench``).

Modules: ``machine`` (matmul limit, machine description), ``flops`` (FLOPs from layer shapes),
``training`` (throughput through the real harness), ``memory`` (process-tree peak memory),
``grading`` (grader timing), ``report`` (targets and the printed table), ``cli`` (the command).
"""
