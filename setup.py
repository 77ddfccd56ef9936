"""Build of the optional native accelerator; everything else is in pyproject.toml.

``_tickpipe_bars`` (native/bars_fold.c) speeds up the bars handler's fold. It is optional: without a
C compiler the install still succeeds and market/bars_fold.py folds in Python, with the same result.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "_tickpipe_bars",
            sources=["native/bars_fold.c"],
            define_macros=[("Py_LIMITED_API", "0x030B0000")],  # the stable ABI: one build for 3.11+
            py_limited_api=True,
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
