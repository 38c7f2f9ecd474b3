# A correct solution that, at import, ignores SIGXFSZ and tries to write 3 GiB into its working
# folder and 3 GiB into the report folder, then carries on. The file-size cap must stop both.
import os
import signal

try:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
except (AttributeError, OSError, ValueError):
    pass
_block = b"\0" * (4 << 20)
for _path in (os.path.join(os.getcwd(), "huge.bin"), os.path.join(_HOSTILE_REPORTS, f"huge-{_HOSTILE_ENTRY}.bin")):
    _written = 0
    try:
        with open(_path, "wb") as _handle:
            while _written < (3 << 30):
                _handle.write(_block)
                _written += len(_block)
    except OSError as _error:
        _hostile_note("info", path=_path, stopped_after_mib=_written >> 20, error=repr(_error))
