"""Tests of the installed cymem.cymem module (stdlib unittest).

Run by python/run.sh, which installs the package and builds the test
extensions first; or by hand with those on sys.path: `python test_cymem.py`.
"""
import ctypes
import gc
import sys
import threading
import unittest

import cymem.about
import cymem.cymem as cymem_module
import cymem_testing as t
import sparse_matrix
from cymem.cymem import Address, InvalidPointerError, Pool, status_message

# cymem_status values (include/cymem.h).
INVALID_HANDLE, INVALID_POINTER, SIZE_OVERFLOW, OUT_OF_MEMORY = 2, 3, 4, 5


def leaked():
    """Counting-allocator blocks not yet freed."""
    mallocs, frees = t.counts()
    return mallocs - frees


class SparseMatrixExample(unittest.TestCase):
    MATRICES = [
        [{0: 1.5, 7: -2.0}, {}, {3: 4.25}],
        [],
        [{i: i * 0.5 for i in range(50)}, {1000000: 1e300, 1: -1e-300}],
    ]

    def test_reads_back_exactly(self):
        array = sparse_matrix.MatrixArray(self.MATRICES)
        self.assertEqual(sparse_matrix.entries(array), self.MATRICES)

    def test_sums(self):
        array = sparse_matrix.MatrixArray(self.MATRICES)
        expected = [sum(v for row in m for v in row.values()) for m in self.MATRICES]
        self.assertEqual(sparse_matrix.sums(array), expected)

    def test_pool_accounting(self):
        array = sparse_matrix.MatrixArray(self.MATRICES)
        pool = sparse_matrix.pool(array)
        ptr = size_t = 8
        sparse_row, sparse_matrix_struct = 3 * 8, 2 * 8
        blocks = 1 + sum(2 + 2 * len(m) for m in self.MATRICES)
        size = len(self.MATRICES) * ptr + sum(
            sparse_matrix_struct + len(m) * sparse_row
            + sum(len(row) * (size_t + 8) for row in m)
            for m in self.MATRICES
        )
        self.assertEqual(len(pool), blocks)
        self.assertEqual(pool.size, size)

    def test_many_arrays_collected(self):
        for _ in range(200):
            sparse_matrix.MatrixArray(self.MATRICES)
        gc.collect()


class Alloc(unittest.TestCase):
    def test_zeroed_and_aligned(self):
        pool = Pool()
        for n in (1, 7, 16, 33, 4096, 1 << 20):
            addr = t.alloc(pool, n, 1)
            self.assertEqual(addr % 16, 0)
            self.assertEqual(t.read(addr, n), bytes(n))
            t.write(addr, b"\xff" * n)

    def test_reused_memory_is_zeroed(self):
        pool = Pool()
        for _ in range(100):
            addr = t.alloc(pool, 10, 8)
            self.assertEqual(t.read(addr, 80), bytes(80))
            t.write(addr, b"\xab" * 80)
            t.free(pool, addr)

    def test_zero_bytes_gives_distinct_non_null(self):
        pool = Pool()
        a, b = t.alloc(pool, 0, 8), t.alloc(pool, 8, 0)
        self.assertNotEqual(a, 0)
        self.assertNotEqual(a, b)
        self.assertEqual((len(pool), pool.size), (2, 0))
        t.free(pool, a)
        t.free(pool, b)

    def test_size_and_len(self):
        pool = Pool()
        self.assertEqual((len(pool), pool.size), (0, 0))
        a = t.alloc(pool, 10, 4)
        b = t.alloc(pool, 3, 100)
        self.assertEqual((len(pool), pool.size), (2, 340))
        t.free(pool, a)
        self.assertEqual((len(pool), pool.size), (1, 300))
        b = t.realloc(pool, b, 1000)
        self.assertEqual((len(pool), pool.size), (1, 1000))
        t.free(pool, b)
        self.assertEqual((len(pool), pool.size), (0, 0))

    def test_overflow(self):
        pool = Pool()
        for number, size in ((2**63, 4), (2**64 - 1, 2), (2**63, 1)):
            with self.assertRaises(OverflowError) as cm:
                t.alloc(pool, number, size)
            self.assertEqual(str(cm.exception), status_message(SIZE_OVERFLOW))
        self.assertEqual((len(pool), pool.size), (0, 0))

    def test_out_of_memory(self):
        pool = t.counting_pool()
        t.fail_after(0)
        try:
            with self.assertRaises(MemoryError) as cm:
                t.alloc(pool, 1, 32)
        finally:
            t.fail_after(-1)
        self.assertEqual(str(cm.exception), status_message(OUT_OF_MEMORY))
        self.assertEqual((len(pool), pool.size), (0, 0))
        t.alloc(pool, 1, 32)  # usable afterwards
        self.assertEqual(len(pool), 1)


class Free(unittest.TestCase):
    def assert_invalid_pointer(self, pool, addr):
        before = (len(pool), pool.size)
        with self.assertRaises(ValueError) as cm:
            t.free(pool, addr)
        self.assertIsInstance(cm.exception, InvalidPointerError)
        self.assertIsInstance(cm.exception, KeyError)  # as cymem's free
        self.assertEqual(str(cm.exception), status_message(INVALID_POINTER))
        self.assertEqual((len(pool), pool.size), before)

    def test_unknown_address(self):
        pool, other = Pool(), Pool()
        addr = t.alloc(pool, 4, 8)
        self.assert_invalid_pointer(pool, 0)
        self.assert_invalid_pointer(pool, addr + 8)  # interior
        self.assert_invalid_pointer(other, addr)  # another pool's
        self.assert_invalid_pointer(pool, id(pool))  # foreign memory
        t.free(pool, addr)

    def test_double_free(self):
        pool = Pool()
        addr = t.alloc(pool, 4, 8)
        keep = t.alloc(pool, 4, 8)
        t.free(pool, addr)
        self.assert_invalid_pointer(pool, addr)
        self.assertEqual(len(pool), 1)
        t.free(pool, keep)


class Realloc(unittest.TestCase):
    def test_grow_keeps_prefix_and_zeroes_rest(self):
        pool = Pool()
        addr = t.alloc(pool, 40, 1)
        data = bytes(range(1, 41))
        t.write(addr, data)
        for n in (41, 100, 5000, 1 << 20):
            addr = t.realloc(pool, addr, n)
            self.assertEqual(addr % 16, 0)
            self.assertEqual(t.read(addr, n), data + bytes(n - 40))
        self.assertEqual((len(pool), pool.size), (1, 1 << 20))

    def test_shrink_keeps_prefix_and_regrow_is_zeroed(self):
        pool = Pool()
        addr = t.alloc(pool, 100, 1)
        t.write(addr, b"\x07" * 100)
        addr = t.realloc(pool, addr, 10)
        self.assertEqual(t.read(addr, 10), b"\x07" * 10)
        self.assertEqual(pool.size, 10)
        addr = t.realloc(pool, addr, 100)
        self.assertEqual(t.read(addr, 100), b"\x07" * 10 + bytes(90))

    def test_old_address_is_gone_after_move(self):
        pool = Pool()
        addr = t.alloc(pool, 1, 16)
        new = t.realloc(pool, addr, 1 << 20)
        if new != addr:
            with self.assertRaises(InvalidPointerError):
                t.free(pool, addr)
        t.free(pool, new)
        self.assertEqual(len(pool), 0)

    def test_errors_leave_block_untouched(self):
        pool = Pool()
        addr = t.alloc(pool, 8, 1)
        t.write(addr, b"abcdefgh")
        with self.assertRaises(InvalidPointerError):
            t.realloc(pool, addr + 1, 100)
        with self.assertRaises(OverflowError):
            t.realloc(pool, addr, 2**63 + 1)
        self.assertEqual(t.read(addr, 8), b"abcdefgh")
        self.assertEqual((len(pool), pool.size), (1, 8))

    def test_out_of_memory_leaves_block_untouched(self):
        pool = t.counting_pool()
        addr = t.alloc(pool, 8, 1)
        t.write(addr, b"abcdefgh")
        t.fail_after(0)
        try:
            with self.assertRaises(MemoryError):
                t.realloc(pool, addr, 1 << 16)
        finally:
            t.fail_after(-1)
        self.assertEqual(t.read(addr, 8), b"abcdefgh")
        self.assertEqual((len(pool), pool.size), (1, 8))


class Handles(unittest.TestCase):
    def test_lookup_find_and_free(self):
        pool = Pool()
        addr, handle = t.alloc_handle(pool, 3, 8)
        self.assertEqual(t.lookup(pool, handle), (addr, 24))
        self.assertEqual(t.find(pool, addr), (handle, 24))
        t.free_handle(pool, handle)
        self.assertEqual(len(pool), 0)
        with self.assertRaises(ValueError) as cm:
            t.lookup(pool, handle)
        self.assertEqual(str(cm.exception), status_message(INVALID_HANDLE))
        with self.assertRaises(ValueError):
            t.free_handle(pool, handle)
        with self.assertRaises(InvalidPointerError):
            t.find(pool, addr)

    def test_handle_survives_realloc(self):
        pool = Pool()
        addr, handle = t.alloc_handle(pool, 4, 1)
        t.write(addr, b"wxyz")
        new = t.realloc_handle(pool, handle, 1 << 20, 1)
        self.assertEqual(t.lookup(pool, handle), (new, 1 << 20))
        self.assertEqual(t.read(new, 5), b"wxyz\0")
        new = t.realloc(pool, new, 2)
        self.assertEqual(t.lookup(pool, handle), (new, 2))

    def test_stale_null_and_foreign_handles(self):
        pool, other = Pool(), Pool()
        _, handle = t.alloc_handle(pool, 1, 8)
        t.free_handle(pool, handle)
        t.alloc_handle(pool, 1, 8)  # may reuse the slot
        _, foreign = t.alloc_handle(other, 1, 8)
        for bad in (handle, (0, 0, 0), foreign, (0, 12345, foreign[2] ^ 1)):
            with self.assertRaises(ValueError):
                t.lookup(pool, bad)
            with self.assertRaises(ValueError):
                t.realloc_handle(pool, bad, 1, 1)
            with self.assertRaises(ValueError):
                t.free_handle(pool, bad)
        self.assertEqual(len(pool), 1)


class Lifetime(unittest.TestCase):
    def setUp(self):
        gc.collect()
        self.start = leaked()

    def assert_all_freed(self):
        self.assertEqual(leaked(), self.start)

    def test_del_frees_every_block(self):
        for how in ("factory", "wrap"):
            pool = t.counting_pool(how)
            for i in range(1000):
                t.alloc(pool, i % 50 + 1, 8)
            addr = t.alloc(pool, 1, 8)
            t.realloc(pool, addr, 10000)
            self.assertEqual(leaked() - self.start, 1001)
            del pool
            gc.collect()
            self.assert_all_freed()

    def test_free_and_realloc_go_through_the_allocator(self):
        pool = t.counting_pool()
        addrs = [t.alloc(pool, 1, 64) for _ in range(10)]
        for addr in addrs[:5]:
            t.free(pool, addr)
        self.assertEqual(leaked() - self.start, 5)
        t.realloc(pool, addrs[5], 1 << 16)
        self.assertEqual(leaked() - self.start, 5)
        del pool
        self.assert_all_freed()

    def test_reference_cycle_is_collected(self):
        class Owner:
            pass

        gc.disable()
        try:
            owner = Owner()
            owner.mem = t.counting_pool()
            owner.mem.own_pyref(owner)  # owner -> pool -> owner
            for _ in range(100):
                t.alloc(owner.mem, 4, 8)
            del owner
            self.assertEqual(leaked() - self.start, 100)  # only a cycle holds it
            gc.collect()
        finally:
            gc.enable()
        self.assert_all_freed()

    def test_pool_in_its_own_refs(self):
        pool = t.counting_pool()
        pool.own_pyref(pool)
        t.alloc(pool, 1, 8)
        del pool
        gc.collect()
        self.assert_all_freed()


class Misc(unittest.TestCase):
    def test_status_messages(self):
        for status in range(7):
            self.assertTrue(status_message(status))
        self.assertEqual(status_message(99), "unknown status")
        self.assertEqual(status_message(-1), "unknown status")

    def test_repr(self):
        self.assertIn("0 blocks", repr(Pool()))

    def test_module_docs(self):
        self.assertIn("cymem", cymem_module.__doc__)

    def test_version_satisfies_spacy(self):
        # spaCy 3.8 requires cymem>=2.0.2,<2.1.0; a local label keeps that.
        self.assertTrue(cymem.about.__version__.startswith("2.0.16+"))


def capsule_name(capsule):
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype = ctypes.c_char_p
    get_name.argtypes = [ctypes.py_object]
    return get_name(capsule).decode()


class BinaryCompatibility(unittest.TestCase):
    """What modules compiled against cymem 2.0.16's cymem.pxd check or use."""

    def test_object_sizes_match_cymem_2_0_16(self):
        # From PyPI's cymem 2.0.16 wheel on a 64-bit CPython: Cython compares
        # these at import (smaller: ImportError, larger: RuntimeWarning).
        ptr = ctypes.sizeof(ctypes.c_void_p)
        head = object.__basicsize__  # PyObject_HEAD
        self.assertEqual(Pool.__basicsize__, head + ptr + 5 * ptr)  # vtab + 5 fields
        self.assertEqual(Address.__basicsize__, head + 3 * ptr)
        self.assertEqual(cymem_module.PyMalloc.__basicsize__, head + 2 * ptr)  # vtab + malloc
        self.assertEqual(cymem_module.PyFree.__basicsize__, head + 2 * ptr)

    def offset_of(self, obj, value):
        """Offsets of the words in obj's struct that equal value."""
        return [off for off in range(0, type(obj).__basicsize__, 8)
                if t.word_at(obj, off) == value]

    def test_field_order(self):
        # Fields follow PyObject_HEAD (16) and the vtable pointer (8).
        pool = Pool()
        t.alloc(pool, 123456, 1)
        self.assertEqual(self.offset_of(pool, 123456), [24])  # size
        self.assertEqual(self.offset_of(pool, id(pool.addresses)), [32])
        self.assertEqual(self.offset_of(pool, id(pool.refs)), [40])
        self.assertEqual(self.offset_of(pool, id(pool.pymalloc)), [48])
        self.assertEqual(self.offset_of(pool, id(pool.pyfree)), [56])
        address = Address(1, 1)
        self.assertEqual(self.offset_of(address, address.addr), [16])  # no vtable
        self.assertEqual(self.offset_of(address, id(address.pymalloc)), [24])
        self.assertEqual(self.offset_of(address, id(address.pyfree)), [32])

    def test_exported_functions_have_cymem_signatures(self):
        capi = cymem_module.__pyx_capi__
        self.assertEqual(capsule_name(capi["WrapMalloc"]),
                         "struct __pyx_obj_5cymem_5cymem_PyMalloc *(__pyx_t_5cymem_5cymem_malloc_t)")
        self.assertEqual(capsule_name(capi["WrapFree"]),
                         "struct __pyx_obj_5cymem_5cymem_PyFree *(__pyx_t_5cymem_5cymem_free_t)")

    def test_fields_readable_from_python(self):
        pool = Pool()
        self.assertEqual((pool.size, pool.refs, dict(pool.addresses)), (0, [], {}))
        self.assertIs(pool.pymalloc, cymem_module.Default_Malloc)
        self.assertIs(pool.pyfree, cymem_module.Default_Free)
        self.assertIsInstance(pool.addresses, dict)
        with self.assertRaises(AttributeError):
            pool.size = 1

    def test_wrap_malloc_keeps_the_function(self):
        pool = t.counting_pool("wrap")
        self.assertTrue(t.wrapped_is_malloc(pool.pymalloc))


class AddressesView(unittest.TestCase):
    def test_view_follows_the_pool(self):
        pool = Pool()
        view = pool.addresses
        a = t.alloc(pool, 10, 4)
        b = t.alloc(pool, 3, 1)
        self.assertEqual(dict(view), {a: 40, b: 3})
        self.assertEqual((len(view), view[a], view.get(b), a in view), (2, 40, 3, True))
        self.assertEqual(sorted(view), sorted([a, b]))
        self.assertEqual(view, {a: 40, b: 3})
        b = t.realloc(pool, b, 100)
        t.free(pool, a)
        self.assertEqual(dict(view.items()), {b: 100})
        self.assertNotIn(a, view)
        self.assertIsNone(view.get(a))
        with self.assertRaises(KeyError):
            view[a]
        for key in (0, -1, "x", 2**70):
            self.assertNotIn(key, view)

    def test_view_is_read_only(self):
        pool = Pool()
        a = t.alloc(pool, 1, 8)
        view = pool.addresses
        for mutate in (lambda: view.__setitem__(a, 1), lambda: view.__delitem__(a),
                       lambda: view.pop(a), view.popitem, view.clear,
                       lambda: view.update({}), lambda: view.setdefault(a, 1)):
            with self.assertRaises(TypeError):
                mutate()
        self.assertEqual(dict(view), {a: 8})

    def test_view_outliving_the_pool_is_empty(self):
        pool = Pool()
        t.alloc(pool, 1, 8)
        view = pool.addresses
        del pool
        gc.collect()
        self.assertEqual((len(view), dict(view)), (0, {}))


class AddressObject(unittest.TestCase):
    def setUp(self):
        gc.collect()
        self.start = leaked()

    def test_zeroed_block_freed_with_the_object(self):
        address = t.counting_address(10, 8)
        self.assertNotEqual(address.addr, 0)
        self.assertEqual(t.address_read(address, 80), bytes(80))
        self.assertEqual(leaked() - self.start, 1)
        del address
        self.assertEqual(leaked(), self.start)

    def test_default_allocator_and_errors(self):
        address = Address(3, 4)
        self.assertEqual(t.address_read(address, 12), bytes(12))
        self.assertIsNot(Address(0, 8).addr, 0)  # a valid block, unlike malloc(0)
        with self.assertRaises(OverflowError):
            Address(2**63, 4)


class Threads(unittest.TestCase):
    def test_one_pool_shared_by_threads(self):
        pool = Pool()
        results = {}

        def run(tag):
            results[tag] = t.stress(pool, 20000, tag * 7919, tag)

        threads = [threading.Thread(target=run, args=(tag,)) for tag in range(1, 9)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(sorted(results), list(range(1, 9)))
        self.assertTrue(all(checks > 1000 for checks in results.values()), results)
        self.assertEqual((len(pool), pool.size, dict(pool.addresses)), (0, 0, {}))

    def test_counting_pool_shared_by_threads(self):
        gc.collect()
        start = leaked()
        pool = t.counting_pool()
        threads = [threading.Thread(target=t.stress, args=(pool, 5000, tag, tag))
                   for tag in range(1, 5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual((len(pool), pool.size), (0, 0))
        del pool
        self.assertEqual(leaked(), start)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    print("python: %d passed, %d failed" % (passed, failed))
    sys.exit(0 if result.wasSuccessful() else 1)
