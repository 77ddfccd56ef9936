"""Build of the optional native accelerators; everything else is in pyproject.toml.

Three small accelerators for the hot loops, each optional: without a C compiler the install still
succeeds and the Python code they stand in for does the work, with the same result.
- ``_tickpipe_bars`` (native/bars_fold.c): the bars handler's fold (market/bars_fold.py).
- ``_tickpipe_feed`` (native/feed_decode.c): the producer's decode of full-mode updates (fyers/feed.py).
- ``_tickpipe_lines`` (native/json_columns.c): compaction's JSON lines → Arrow columns (consumers/compact.py).
All use only Python's stable ABI, so one build serves every Python from 3.11 on.
"""

from setuptools import Extension, setup


def accelerator(name: str, source: str) -> Extension:
    return Extension(name, sources=[source], define_macros=[("Py_LIMITED_API", "0x030B0000")],
                     py_limited_api=True, extra_compile_args=["-O2"], optional=True)


setup(ext_modules=[accelerator("_tickpipe_bars", "native/bars_fold.c"),
                   accelerator("_tickpipe_feed", "native/feed_decode.c"),
                   accelerator("_tickpipe_lines", "native/json_columns.c")])
