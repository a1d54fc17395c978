"""The C accelerator's entries: a wrapper's plain case, described as data.

``_rawcall.entry`` knows no syscall.  Each wrapper describes its plain case here,
from its own constants: which parameters it takes (kind, range, default), what
each puts in which register (or in which 64-bit word of a small struct a register
points to), what the result is, and how its fallback is called once this thread
knows the call is filtered or missing.  The C side answers only that case, at the
cost of the ``os`` function; every other call goes, with the same arguments, to
the Python implementation, which is the reference (CI runs the suite with and
without the accelerator).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar, cast

from .._probes import PROBES
from ..raw import fast, nr

__all__ = ["OUT", "Const", "Encoded", "Given", "Param", "Register", "Words", "describe", "entry"]

_F = TypeVar("_F", bound=Callable[..., Any])
_REQUIRED = object()


class Param(NamedTuple):
    """One parameter of the plain case.

    *kind*: ``path`` (str or bytes, encoded as ``os`` does; the register gets its
    address), ``int`` (an exact int in ``lo..hi``), ``bool`` (``bits[0]`` when True,
    ``bits[1]`` when False), ``none`` (only None), ``pointed`` (an int in ``lo..hi``
    stored in *word*, whose address goes in *reg*; None leaves the register 0).
    The value is ORed into register *reg* or word *word* (replaced, with *replace*),
    and only when the parameter named *gate* has all the bits of one of
    *gate_masks*.  *none_ok*: None is accepted and writes nothing."""

    name: str
    kind: str = "int"
    default: object = _REQUIRED
    keyword: bool = True
    none_ok: bool = False
    reg: int = -1
    word: int = -1
    replace: bool = False
    lo: int = 0
    hi: int = 2**32 - 1
    bits: tuple[int, int] = (0, 0)
    gate: str | None = None
    gate_masks: tuple[int, int] = (0, 0)


class Words(NamedTuple):
    """A register that points to the words from *first* on."""

    first: int


#: The register that points to the result buffer.
OUT = "out"


class Given(NamedTuple):
    """A fallback argument: the parameter as the caller gave it (or its default)."""

    name: str


class Encoded(NamedTuple):
    """A fallback argument: a path parameter encoded, as ``os.fsencode`` does."""

    name: str


class Register(NamedTuple):
    """A fallback argument: the value the plain case put in register *number*."""

    number: int


class Const(NamedTuple):
    """A fallback argument: this object."""

    value: object


#: Where a fallback argument comes from.
FallbackArg = Given | Encoded | Register | Const


def entry(syscall: str, implementation: _F, fallback: Callable[..., object] | None,
          params: tuple[Param, ...], registers: tuple[int | Words | str, ...], result: str,
          **shape: Any) -> _F:
    """The public wrapper: the C entry for this description (see :func:`describe`),
    carrying *implementation*'s name, signature and docstring; without the
    accelerator, *implementation* itself."""
    if fast is None:
        return implementation
    made = fast.entry(implementation, fallback, describe(syscall, params, registers, result,
                                                         **shape))
    functools.update_wrapper(made, implementation)  # docstring, __wrapped__ (the signature)
    made.__name__ = made.__qualname__ = implementation.__name__.lstrip("_")
    return cast(_F, made)  # the same signature: update_wrapper gave it __wrapped__


def describe(syscall: str, params: tuple[Param, ...], registers: tuple[int | Words | str, ...],
             result: str, *, errors: str = "delegate", positional: int | None = None,
             words: tuple[int, ...] = (), fallback_args: tuple[FallbackArg, ...] = (),
             out_param: str | None = None,
             struct: tuple[type, int, int, tuple[tuple[str, int, int, bool], ...]] | None = None,
             ) -> dict[str, object]:
    """The description ``_rawcall.entry`` reads: syscall *syscall* (its number; the
    probe's kept registers key the doomed verdicts) with *params* and *registers*
    (each an int, ``Words(i)`` or ``OUT``).

    *result*: ``none``, ``bool`` (os.access: an error is False), ``int``, ``bytes``
    (a buffer of *out_param* bytes, cut to the kernel's count) or ``struct`` (*struct*
    is ``(tuple type, buffer size, offset of the u32 field mask, fields)``, each field
    ``(decoder, offset, mask bits, all bits needed)``: None when the bits are not in
    the mask).  *errors*: ``raise`` turns an errno other than ENOSYS and EPERM into the
    OSError ``os`` raises (naming the path parameter); ``delegate`` hands it to the
    implementation.  The first *positional* parameters (default: all) may be given
    by position.  *fallback_args*: ``Given``, ``Encoded``, ``Register``, ``Const``."""
    if fast is None:
        raise RuntimeError("describe: the C accelerator is not built")
    codes = fast.CODES
    index = {p.name: i for i, p in enumerate(params)}
    described = tuple(
        (p.name if p.keyword else None, None if p.default is _REQUIRED else p.default,
         (codes["param"][p.kind], p.default is _REQUIRED, p.none_ok or p.kind == "none", p.reg,
          p.word, p.replace, p.lo, p.hi, p.bits[0], p.bits[1],
          -1 if p.gate is None else index[p.gate], *p.gate_masks)) for p in params)
    path = [i for i, p in enumerate(params) if p.kind == "path"]
    struct_type, out_size, mask_offset, fields = struct or (None, 0, 0, ())
    probe = PROBES.get(syscall)
    return {
        "syscall": syscall, "params": described, "words": words,
        "kept": probe.kept if probe is not None else (),
        "shape": (nr(syscall), len(params) if positional is None else positional,
                  codes["result"][result], codes["errors"][errors], path[0] if path else -1,
                  -1 if out_param is None else index[out_param], out_size, mask_offset),
        "registers": tuple(
            (codes["register"]["words"], r.first) if isinstance(r, Words)
            else (codes["register"]["out"], 0) if r == OUT
            else (codes["register"]["value"], int(r)) for r in registers),
        "fallback_args": tuple(_argument(a, index, codes["argument"]) for a in fallback_args),
        "fields": tuple((codes["decoder"][d], off, bits, every) for d, off, bits, every in fields),
        "result_type": struct_type,
    }


def _argument(arg: FallbackArg, index: dict[str, int],
              codes: dict[str, int]) -> tuple[int, object]:
    if isinstance(arg, Given):
        return codes["given"], index[arg.name]
    if isinstance(arg, Encoded):
        return codes["encoded"], index[arg.name]
    if isinstance(arg, Register):
        return codes["register"], arg.number
    return codes["const"], arg.value
