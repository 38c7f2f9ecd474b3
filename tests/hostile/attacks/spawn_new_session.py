# A correct solution whose CNN_Base constructor starts sleepers in new sessions
# (subprocess.Popen(start_new_session=True), empty environment) each time it is called.
import subprocess

_original_init = CNN_Base.__init__


def _spawning_init(self, *args, **kwargs):
    _original_init(self, *args, **kwargs)
    try:
        subprocess.Popen(_hostile_sleeper_argv(), env={}, start_new_session=True, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)
    except Exception as error:
        _hostile_note("info", spawn_failed=repr(error))


CNN_Base.__init__ = _spawning_init
