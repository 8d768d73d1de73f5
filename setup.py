"""The build of the wire codec's optional C accelerators; everything else about the
package is declared in pyproject.toml.

Rules: both extensions are optional. Where no C compiler or Python headers are found,
the install goes on without them and the codec runs its Python paths, which define
the format and give the same bytes and values (node/wire.py).
"""
from setuptools import Extension, setup

setup(ext_modules=[
    Extension("smalltalk_vm.node._wire_c_encoder", ["node/wire_c_encoder.c"], optional=True),
    Extension("smalltalk_vm.node._wire_c_decoder", ["node/wire_c_decoder.c"], optional=True),
])
