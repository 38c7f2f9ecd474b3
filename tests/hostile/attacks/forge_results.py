# The hollow base plus forged Gradescope results (score 100) written wherever a results.json might
# be picked up: its working folder, the --out path and folders named on any visible command line
# (including an autograder root's results/ in the Gradescope simulation); then a detached daemon (new session, empty environment) rewrites them again
# 2 s later, after the grader has written its own, and sleeps with the run token.
# SAFETY: outside its own working folder, only paths inside the meta-test's throwaway copy are written.
import json
import os
import subprocess

_FORGED = json.dumps({
    "score": 100, "execution_time": 1, "output": "forged by the submission",
    "tests": [{"name": f"{cls}: forged", "score": points, "max_score": points, "status": "passed",
               "output": "forged", "visibility": "visible"}
              for cls, points in (("CNN_Base", 20), ("SEBlock", 30), ("CNN_SE", 25), ("CNN_SelfAttention", 25))],
})


def _targets():
    targets = {os.path.join(os.getcwd(), "results.json")}
    for root in _hostile_paths():
        if root.endswith(".json") and _hostile_marked(root):
            targets.add(root)
        elif os.path.isdir(root) and _hostile_marked(root):
            targets.add(os.path.join(root, "results.json"))
            if os.path.isdir(os.path.join(root, "results")):
                targets.add(os.path.join(root, "results", "results.json"))
    return sorted(t for t in targets if _hostile_marked(t) or t.startswith(os.getcwd()))


_paths = _targets()
for _path in _paths:
    try:
        with open(_path, "w") as _handle:
            _handle.write(_FORGED)
        _hostile_note("info", how="forged", path=_path)
    except OSError:
        pass
_late = (
    "import sys, time\n"
    "time.sleep(2)\n"
    "for p in sys.argv[2:-1]:\n"
    "    try:\n"
    "        open(p, 'w').write(sys.argv[1])\n"
    "    except OSError:\n"
    "        pass\n"
    "time.sleep(600)\n"
)
try:
    subprocess.Popen([os.sys.executable, "-c", _late, _FORGED, *_paths, _HOSTILE_TOKEN], env={}, start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)
except Exception as _error:
    _hostile_note("info", late_writer_failed=repr(_error))
