"""Running a submission out of process: the child runtime, the wire protocol, limits and clean-up.

- ``protocol``: frames of JSON + raw little-endian arrays (no pickle), decoded with size limits;
- ``child``: the child's main loop (copied into the child's folder; never imported by the grader), serving
  grader/operations.py (what a check may ask of a submission, copied beside it);
- ``isolation``: one object per deployment mode (jail, sandbox user, unsafe): the child's command and environment;
- ``bwrap``: the bubblewrap command line of the child's allowlist jail;
- ``process``: the parent's ``Sandbox`` (start, deadlines, capped output, kill everything);
- ``reaper``: finding and killing every process a submission started;
- ``cgroup``: control groups (v2 or v1) bounding tasks, memory and CPU where the grader may create them.
"""
