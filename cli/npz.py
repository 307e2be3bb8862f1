"""--save's .npz archive, the one np.savez writes, without np.savez's copies.

np.savez hands each array to a zip member through numpy.nditer in 16 MiB buffered chunks, and
copies every chunk once more with tobytes(): for --save of a 1e7-element run (15 arrays of
80 MB) that is 1.1 GB copied twice, and 32 MiB held meanwhile. Here a contiguous array is
written from its own memory in one call, and a broadcast array (all strides 0: the all-ones
gradient of a sum's inputs is one number in memory) from one small block written over and over.
The archive is np.savez's: one uncompressed (stored) .npy member per key, zip64, the same
.npy header, so numpy.load reads it, allow_pickle=False.
"""
from __future__ import annotations

import zipfile

import numpy as np

BLOCK = 1 << 17  # entries of the block a broadcast array is written from (1 MiB of float64)


def write_npz(fh, arrays: dict) -> None:
    """Write {key: array} to the binary file object fh as np.savez(fh, **arrays) would."""
    fmt = np.lib.format
    with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, value in arrays.items():
            a = np.asanyarray(value)
            with zf.open(key + ".npy", "w", force_zip64=True) as out:
                if a.dtype.hasobject:  # never from agrad's results; np.savez's own path refuses it
                    fmt.write_array(out, a, allow_pickle=False)
                    continue
                header = fmt.header_data_from_array_1_0(a)
                try:
                    fmt.write_array_header_1_0(out, header)
                except ValueError:  # a header over 64 KiB: np.savez moves to format 2.0 too
                    fmt.write_array_header_2_0(out, header)
                _write_data(out, a)


def _write_data(out, a: np.ndarray) -> None:
    """a's entries in the order its header says (C, or Fortran for an F-contiguous array)."""
    if a.size == 0:
        return
    if a.flags.c_contiguous:
        out.write(memoryview(a.reshape(-1)).cast("B"))
    elif a.flags.f_contiguous:  # header_data_from_array_1_0 said fortran_order: the memory as it is
        out.write(memoryview(a.T.reshape(-1)).cast("B"))
    elif not any(a.strides):  # a broadcast: one number, size times
        block = np.full(min(a.size, BLOCK), a.flat[0], dtype=a.dtype)
        whole, rest = divmod(a.size, block.size)
        data = memoryview(block).cast("B")
        for _ in range(whole):
            out.write(data)
        if rest:
            out.write(data[:rest * a.itemsize])
    else:  # any other view: row-major pieces, as np.savez writes them
        for chunk in np.nditer(a, flags=["external_loop", "buffered", "zerosize_ok"],
                               buffersize=max(BLOCK, 1), order="C"):
            out.write(chunk.tobytes("C"))
