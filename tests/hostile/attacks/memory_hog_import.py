# A correct solution that, at import, touches memory 256 MiB at a time until refused (up to
# 64 GiB), then lets it all go and carries on. The memory limit must stop it early; peak memory
# of every process stays under the limit.
_hog = []
try:
    for _ in range(256):
        _chunk = bytearray(256 << 20)
        _chunk[::4096] = b"\1" * len(range(0, len(_chunk), 4096))  # touch every page
        _hog.append(_chunk)
except MemoryError:
    pass
_hostile_note("info", hogged_mib=256 * len(_hog))
del _hog
