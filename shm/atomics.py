"""Atomic operations on array elements, for Numba kernels in several processes.

Numba offers no CPU atomics, so this module defines them as intrinsics that
emit the LLVM instructions directly: ``load atomic`` and ``store atomic``
with an explicit memory ordering, ``cmpxchg`` and ``atomicrmw``. They work on
any NumPy array, including views of shared-memory segments, and compile with
``cache=True``. Each takes the array and an element index::

    old = fetch_add(counters, i, 1)              # integer fetch-add
    ok = compare_exchange(words, i, expected, desired)[1]
    old, retries = add_f32(slots, i, x)          # float add via the bit pattern

Orderings follow C++ and LLVM: ``relaxed`` (LLVM ``monotonic``) only makes
the access itself indivisible; ``acquire`` loads and ``release`` stores
order the accesses around them, so that a value published with a release
store is seen with everything written before it by whoever reads it with an
acquire load; ``seq_cst`` adds one total order.

Why atomic loads in spin loops: a plain load of a word another process
writes may be hoisted out of the loop by LLVM, which then spins for ever.
An atomic load, of any ordering, is read every time.

Float addition has no single x86 instruction; :func:`add_f32` reads the
slot, adds, and swaps the new bit pattern in only if the slot still holds
what it read, retrying otherwise. It returns the number of retries, which
the engine counts as contention.
"""

import platform

import numba as nb
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = [
    "add_f32",
    "compare_exchange",
    "compare_exchange_f32",
    "cycles",
    "cycles_per_second",
    "exchange",
    "fence",
    "fetch_add",
    "futex_wait",
    "futex_wake",
    "load",
    "load_acquire",
    "pause",
    "sleep_us",
    "store",
    "store_release",
    "yield_cpu",
]

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")

#: Our ordering names to LLVM's.
_ORDERINGS = {
    "relaxed": "monotonic",
    "acquire": "acquire",
    "release": "release",
    "acq_rel": "acq_rel",
    "seq_cst": "seq_cst",
}
_LOAD_ORDERINGS = ("relaxed", "acquire", "seq_cst")
_STORE_ORDERINGS = ("relaxed", "release", "seq_cst")


def _ordering(literal, allowed):
    if not isinstance(literal, types.StringLiteral):
        raise nb.errors.TypingError("the memory ordering must be a literal string")
    name = literal.literal_value
    if name not in allowed:
        raise nb.errors.TypingError(
            f"memory ordering {name!r} is not one of {', '.join(allowed)}"
        )
    return _ORDERINGS[name]


def _element_pointer(context, builder, array_type, array, index_type, index):
    """Pointer to ``array[index]`` (1-d, strides honoured, no bounds check)."""
    array = context.make_array(array_type)(context, builder, array)
    index = context.cast(builder, index, index_type, types.intp)
    return cgutils.get_item_pointer(context, builder, array_type, array, [index])


def _check_array(array_type, what):
    if not isinstance(array_type, types.Array) or array_type.ndim != 1:
        raise nb.errors.TypingError(f"{what} needs a one-dimensional array")


def _check_integer_array(array_type, what):
    _check_array(array_type, what)
    if not isinstance(array_type.dtype, types.Integer):
        raise nb.errors.TypingError(f"{what} needs an integer array")


def _width(array_type):
    return array_type.dtype.bitwidth // 8


@intrinsic
def load(typingctx, array, index, ordering):
    """``array[index]`` read atomically with ``ordering`` (relaxed, acquire,
    seq_cst)."""
    _check_array(array, "load")
    llvm_ordering = _ordering(ordering, _LOAD_ORDERINGS)

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(
            context, builder, array, args[0], signature.args[1], args[1]
        )
        return builder.load_atomic(pointer, llvm_ordering, _width(array))

    return array.dtype(array, index, ordering), codegen


@intrinsic
def store(typingctx, array, index, value, ordering):
    """Write ``array[index] = value`` atomically with ``ordering`` (relaxed,
    release, seq_cst)."""
    _check_array(array, "store")
    llvm_ordering = _ordering(ordering, _STORE_ORDERINGS)

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(
            context, builder, array, args[0], signature.args[1], args[1]
        )
        value = context.cast(builder, args[2], signature.args[2], array.dtype)
        builder.store_atomic(value, pointer, llvm_ordering, _width(array))
        return context.get_dummy_value()

    return types.void(array, index, value, ordering), codegen


@nb.njit(inline="always")
def load_acquire(array, index):
    """``array[index]``, read with acquire ordering."""
    return load(array, index, "acquire")


@nb.njit(inline="always")
def store_release(array, index, value):
    """``array[index] = value``, written with release ordering."""
    store(array, index, value, "release")


@intrinsic
def compare_exchange(typingctx, array, index, expected, desired):
    """Set ``array[index] = desired`` if it holds ``expected``, atomically.

    Integer arrays; sequentially consistent. Returns ``(old, swapped)``:
    the value the element held and whether the swap took place.
    """
    _check_integer_array(array, "compare_exchange")
    dtype = array.dtype
    result = types.Tuple((dtype, types.boolean))

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(
            context, builder, array, args[0], signature.args[1], args[1]
        )
        cmp = context.cast(builder, args[2], signature.args[2], dtype)
        new = context.cast(builder, args[3], signature.args[3], dtype)
        pair = builder.cmpxchg(pointer, cmp, new, "seq_cst", "seq_cst")
        old = builder.extract_value(pair, 0)
        swapped = builder.extract_value(pair, 1)
        return context.make_tuple(builder, result, [old, swapped])

    return result(array, index, expected, desired), codegen


@intrinsic
def compare_exchange_f32(typingctx, array, index, expected, desired):
    """Compare-and-swap on a float32 element, comparing bit patterns.

    Returns ``(old, swapped)`` like :func:`compare_exchange`. Comparing bits
    rather than values makes the swap fail on ``-0.0`` against ``0.0`` and
    succeed on a NaN that was read back, as a retry loop needs.
    """
    _check_array(array, "compare_exchange_f32")
    if array.dtype != types.float32:
        raise nb.errors.TypingError("compare_exchange_f32 needs a float32 array")
    result = types.Tuple((types.float32, types.boolean))

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(
            context, builder, array, args[0], signature.args[1], args[1]
        )
        i32 = ir.IntType(32)
        bits_pointer = builder.bitcast(pointer, i32.as_pointer())
        cmp = context.cast(builder, args[2], signature.args[2], types.float32)
        new = context.cast(builder, args[3], signature.args[3], types.float32)
        pair = builder.cmpxchg(
            bits_pointer,
            builder.bitcast(cmp, i32),
            builder.bitcast(new, i32),
            "seq_cst",
            "seq_cst",
        )
        old = builder.bitcast(builder.extract_value(pair, 0), ir.FloatType())
        swapped = builder.extract_value(pair, 1)
        return context.make_tuple(builder, result, [old, swapped])

    return result(array, index, expected, desired), codegen


def _rmw(operation, doc):
    @intrinsic
    def rmw(typingctx, array, index, value):
        _check_integer_array(array, operation)

        def codegen(context, builder, signature, args):
            pointer = _element_pointer(
                context, builder, array, args[0], signature.args[1], args[1]
            )
            value = context.cast(builder, args[2], signature.args[2], array.dtype)
            return builder.atomic_rmw(operation, pointer, value, "acq_rel")

        return array.dtype(array, index, value), codegen

    rmw.__doc__ = doc
    return rmw


fetch_add = _rmw(
    "add",
    "Add ``value`` to the integer ``array[index]`` atomically; returns the "
    "old value (``atomicrmw add``, acquire-release).",
)
exchange = _rmw(
    "xchg",
    "Store ``value`` in the integer ``array[index]`` atomically; returns the "
    "old value (``atomicrmw xchg``, acquire-release).",
)


@nb.njit(inline="always")
def add_f32(array, index, value):
    """Add ``value`` to the float32 ``array[index]`` atomically.

    Returns ``(old, retries)``: the value before the add, and how many times
    another writer changed the slot between this one's read and its swap.
    The old value tells, exactly once among all writers, who turned a zero
    slot non-zero.
    """
    old = load(array, index, "relaxed")
    retries = 0
    while True:
        seen, swapped = compare_exchange_f32(array, index, old, old + value)
        if swapped:
            return old, retries
        old = seen
        retries += 1


@intrinsic
def fence(typingctx, ordering):
    """A memory fence with ``ordering`` (acquire, release, acq_rel, seq_cst)."""
    llvm_ordering = _ordering(ordering, ("acquire", "release", "acq_rel", "seq_cst"))

    def codegen(context, builder, signature, args):
        builder.fence(llvm_ordering)
        return context.get_dummy_value()

    return types.void(ordering), codegen


@intrinsic
def pause(typingctx):
    """The CPU's spin-wait hint (x86 ``pause``): a spinning core yields its
    pipeline to its hyper-thread sibling and leaves the loop sooner when the
    awaited write lands. A no-op elsewhere."""

    def codegen(context, builder, signature, args):
        if _X86:
            hint = cgutils.get_or_insert_function(
                builder.module,
                ir.FunctionType(ir.VoidType(), []),
                "llvm.x86.sse2.pause",
            )
            builder.call(hint, [])
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def cycles(typingctx):
    """The CPU's cycle counter (``llvm.readcyclecounter``), for counters
    inside kernels; :func:`cycles_per_second` converts."""

    def codegen(context, builder, signature, args):
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(64), []), "llvm.readcyclecounter"
        )
        return builder.call(function, [])

    return types.int64(), codegen


def _libc_function(builder, name, argument_bits):
    """Declare the C library's ``name`` (returning int): the JIT links the
    symbol from the running process, so kernels that call it still cache."""
    signature = ir.FunctionType(
        ir.IntType(32), [ir.IntType(bits) for bits in argument_bits]
    )
    return cgutils.get_or_insert_function(builder.module, signature, name)


@intrinsic
def _sched_yield(typingctx):
    def codegen(context, builder, signature, args):
        return builder.call(_libc_function(builder, "sched_yield", ()), [])

    return types.int32(), codegen


@intrinsic
def _usleep(typingctx, microseconds):
    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[0], signature.args[0], types.uint32)
        return builder.call(_libc_function(builder, "usleep", (32,)), [value])

    return types.int32(microseconds), codegen


_SYS_FUTEX = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}.get(
    platform.machine().lower(), -1
)
FUTEX_WAIT = 0  # not FUTEX_PRIVATE: the word is shared between processes
FUTEX_WAKE = 1


@intrinsic
def _futex(typingctx, array, index, op, value, timeout_us):
    """``syscall(SYS_futex, &array[index], op, value, timeout, 0, 0)`` on
    the low 32 bits of an element; the timeout (microseconds, for waits)
    travels as a timespec on the stack."""
    _check_integer_array(array, "futex")

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        pointer = _element_pointer(
            context, builder, array, args[0], signature.args[1], args[1]
        )
        address = builder.ptrtoint(pointer, i64)
        op = context.cast(builder, args[2], signature.args[2], types.int64)
        value = context.cast(builder, args[3], signature.args[3], types.int64)
        micros = context.cast(builder, args[4], signature.args[4], types.int64)
        timespec = cgutils.alloca_once(builder, ir.ArrayType(i64, 2))
        million = ir.Constant(i64, 1_000_000)
        seconds = builder.sdiv(micros, million)
        nanos = builder.mul(builder.srem(micros, million), ir.Constant(i64, 1000))
        builder.store(
            seconds, builder.gep(timespec, [ir.Constant(ir.IntType(32), 0)] * 2)
        )
        builder.store(
            nanos,
            builder.gep(
                timespec,
                [ir.Constant(ir.IntType(32), 0), ir.Constant(ir.IntType(32), 1)],
            ),
        )
        syscall = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(i64, [i64], var_arg=True), "syscall"
        )
        zero = ir.Constant(i64, 0)
        return builder.call(
            syscall,
            [
                ir.Constant(i64, _SYS_FUTEX),
                address,
                op,
                value,
                builder.ptrtoint(timespec, i64),
                zero,
                zero,
            ],
        )

    return types.int64(array, index, op, value, timeout_us), codegen


@nb.njit(cache=True, nogil=True)
def futex_wait(array, index, expected, timeout_us):
    """Sleep until another process calls :func:`futex_wake` on
    ``array[index]``, or ``timeout_us`` passes, unless the element's low 32
    bits no longer equal ``expected`` (then return at once). The element
    must be 4-byte aligned in shared memory. Spurious wake-ups happen:
    callers re-check their condition."""
    return _futex(array, index, FUTEX_WAIT, expected & 0xFFFFFFFF, timeout_us)


@nb.njit(cache=True, nogil=True)
def futex_wake(array, index, count):
    """Wake up to ``count`` processes sleeping in :func:`futex_wait` on
    ``array[index]``."""
    return _futex(array, index, FUTEX_WAKE, count, 0)


@nb.njit(cache=True, nogil=True)
def yield_cpu():
    """Give the CPU to another runnable process (``sched_yield``)."""
    _sched_yield()


@nb.njit(cache=True, nogil=True)
def sleep_us(microseconds):
    """Sleep at least ``microseconds`` (``usleep``)."""
    _usleep(microseconds)


_cycles_per_second = None


def cycles_per_second():
    """Rate of :func:`cycles`, measured once against ``time.perf_counter``."""
    global _cycles_per_second
    if _cycles_per_second is None:
        import time

        @nb.njit
        def read():
            return cycles()

        read()
        t0, c0 = time.perf_counter(), read()
        time.sleep(0.05)
        t1, c1 = time.perf_counter(), read()
        _cycles_per_second = max((c1 - c0) / (t1 - t0), 1.0)
    return _cycles_per_second
