# cython: language_level=3
"""Example with Cymem.

Memory allocation is hidden behind the Pool class, which remembers the
addresses it gives out.  When the Pool object is garbage collected, all of
its addresses are freed.

We don't need to write MatrixArray.__dealloc__ or sparse_matrix_free,
eliminating a common class of bugs.
"""
# cymem's README example, unchanged but for one name: sparse_matrix_init_cymem
# is named sparse_matrix_init, the name the README's MatrixArray calls.
from cymem.cymem cimport Pool

cdef struct SparseRow:
    size_t length
    size_t* indices
    double* values

cdef struct SparseMatrix:
    size_t length
    SparseRow* rows


cdef class MatrixArray:
    cdef size_t length
    cdef SparseMatrix** matrices
    cdef Pool mem

    def __cinit__(self, list py_matrices):
        self.mem = None
        self.length = 0
        self.matrices = NULL

    def __init__(self, list py_matrices):
        self.mem = Pool()
        self.length = len(py_matrices)
        self.matrices = <SparseMatrix**>self.mem.alloc(self.length, sizeof(SparseMatrix*))
        for i, py_matrix in enumerate(py_matrices):
            self.matrices[i] = sparse_matrix_init(self.mem, py_matrix)

cdef SparseMatrix* sparse_matrix_init(Pool mem, list py_matrix) except NULL:
    sm = <SparseMatrix*>mem.alloc(1, sizeof(SparseMatrix))
    sm.length = len(py_matrix)
    sm.rows = <SparseRow*>mem.alloc(sm.length, sizeof(SparseRow))
    cdef size_t i, j
    cdef dict py_row
    cdef size_t idx
    cdef double value
    for i, py_row in enumerate(py_matrix):
        sm.rows[i].length = len(py_row)
        sm.rows[i].indices = <size_t*>mem.alloc(sm.rows[i].length, sizeof(size_t))
        sm.rows[i].values = <double*>mem.alloc(sm.rows[i].length, sizeof(double))
        for j, (idx, value) in enumerate(py_row.items()):
            sm.rows[i].indices[j] = idx
            sm.rows[i].values[j] = value
    return sm


# ---- Not in the README: read-back functions for the Python tests. ----

def entries(MatrixArray array):
    """The matrices read back from C memory: a list of lists of {idx: value}."""
    cdef size_t m, i, j
    cdef SparseMatrix* sm
    out = []
    for m in range(array.length):
        sm = array.matrices[m]
        out.append([{sm.rows[i].indices[j]: sm.rows[i].values[j]
                     for j in range(sm.rows[i].length)}
                    for i in range(sm.length)])
    return out


def sums(MatrixArray array):
    """The sum of each matrix's values, computed in C."""
    cdef size_t m, i, j
    cdef double total
    cdef SparseMatrix* sm
    out = []
    for m in range(array.length):
        sm = array.matrices[m]
        total = 0.0
        for i in range(sm.length):
            for j in range(sm.rows[i].length):
                total += sm.rows[i].values[j]
        out.append(total)
    return out


def pool(MatrixArray array):
    """The array's Pool (for size / len checks)."""
    return array.mem
