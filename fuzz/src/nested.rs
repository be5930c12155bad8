//! The `nested` target: sparse matrices whose blocks hold handles to other
//! blocks (as in `examples/sparse_matrix.rs`), built, resized and torn down
//! by the input and read back against plain `Vec`s after every operation.

use std::rc::Rc;

use arbitrary::Arbitrary;
use bytemuck::{Pod, Zeroable};
use cymem::{Handle, Pool};

use crate::allocator::{Tracker, TrackingAllocator};
use crate::model::check_dead;
use crate::MAX_OPS;

/// One row: `length` entries, column `indices[j]` holds `values[j]`.
#[derive(Clone, Copy, Debug, Zeroable, Pod)]
#[repr(C)]
pub struct SparseRow {
    /// Entries.
    pub length: usize,
    /// Column of each entry.
    pub indices: Handle<usize>,
    /// Value of each entry.
    pub values: Handle<f64>,
}

/// A matrix: `length` rows.
#[derive(Clone, Copy, Debug, Zeroable, Pod)]
#[repr(C)]
pub struct SparseMatrix {
    /// Rows.
    pub length: usize,
    /// The rows.
    pub rows: Handle<SparseRow>,
}

/// Matrices at most.
const MAX_MATRICES: usize = 16;
/// Rows per matrix at most.
const MAX_ROWS: usize = 16;
/// Entries per row at most.
const MAX_ENTRIES: usize = 32;
/// Dead handles kept for checking.
const MAX_DEAD: usize = 512;

/// A row of the plain model: (column, value bits).
type PlainRow = Vec<(usize, u64)>;
/// A matrix of the plain model.
type PlainMatrix = Vec<PlainRow>;

/// One operation. `matrix`, `row` and `entry` pick one that exists,
/// wrapping around; `children` says whether the blocks a freed block points
/// to are freed too or left for the pool to free.
#[derive(Arbitrary, Clone, Debug)]
pub enum NestedOp {
    /// Builds a matrix from (column, value bits) rows and appends it.
    Push {
        /// The rows.
        rows: Vec<Vec<(u16, u64)>>,
    },
    /// Frees a matrix and removes it from the array.
    FreeMatrix {
        /// Matrix.
        matrix: u8,
        /// Free its rows too.
        children: bool,
    },
    /// Removes a row from a matrix.
    FreeRow {
        /// Matrix.
        matrix: u8,
        /// Row.
        row: u8,
        /// Free its arrays too.
        children: bool,
    },
    /// Reallocates a matrix's rows block; new rows start zeroed (null
    /// handles), then get empty arrays.
    ResizeRows {
        /// Matrix.
        matrix: u8,
        /// New row count (wrapping).
        len: u8,
        /// Free the arrays of cut-off rows.
        children: bool,
    },
    /// Reallocates a row's index and value arrays; new entries are zero.
    ResizeRow {
        /// Matrix.
        matrix: u8,
        /// Row.
        row: u8,
        /// New entry count (wrapping).
        len: u8,
    },
    /// Overwrites one entry.
    Set {
        /// Matrix.
        matrix: u8,
        /// Row.
        row: u8,
        /// Entry.
        entry: u8,
        /// New column.
        column: u16,
        /// New value bits.
        value: u64,
    },
    /// `clear`, then a new empty matrix array.
    Clear,
}

/// A handle that must name nothing any more.
#[derive(Clone, Copy, Debug)]
enum Dead {
    Indices(Handle<usize>),
    Values(Handle<f64>),
    Rows(Handle<SparseRow>),
    Matrices(Handle<SparseMatrix>),
}

struct Nested {
    pool: Pool<TrackingAllocator>,
    tracker: Rc<Tracker>,
    /// The matrix array.
    top: Handle<SparseMatrix>,
    model: Vec<PlainMatrix>,
    /// Matrices removed without freeing their blocks: still in the pool.
    orphan_matrices: Vec<(SparseMatrix, PlainMatrix)>,
    /// Rows removed without freeing their arrays: still in the pool.
    orphan_rows: Vec<(SparseRow, PlainRow)>,
    dead: Vec<Dead>,
    /// Handles ever passed to `bury`.
    buried: usize,
}

/// Blocks, bytes, and blocks of non-zero size the model expects.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    blocks: usize,
    bytes: usize,
    allocated: usize,
}

impl Tally {
    fn add<T>(&mut self, len: usize) {
        let bytes = len * core::mem::size_of::<T>();
        self.blocks += 1;
        self.bytes += bytes;
        self.allocated += usize::from(bytes != 0);
    }
}

/// The `nested` target.
pub fn run(ops: Vec<NestedOp>) {
    let tracker = Tracker::new(Vec::new());
    let mut pool = Pool::with_allocator(TrackingAllocator(Rc::clone(&tracker)));
    let top = pool.alloc(0).expect("empty matrix array");
    let mut nested = Nested {
        pool,
        tracker: Rc::clone(&tracker),
        top,
        model: Vec::new(),
        orphan_matrices: Vec::new(),
        orphan_rows: Vec::new(),
        dead: Vec::new(),
        buried: 0,
    };
    for op in ops.into_iter().take(MAX_OPS) {
        nested.apply(op);
        nested.check();
    }
    drop(nested);
    assert_eq!(
        tracker.live_blocks(),
        0,
        "blocks leaked after the pool dropped"
    );
}

fn pick(target: u8, len: usize) -> Option<usize> {
    (len != 0).then(|| usize::from(target) % len)
}

impl Nested {
    fn apply(&mut self, op: NestedOp) {
        match op {
            NestedOp::Push { rows } => self.push(rows),
            NestedOp::FreeMatrix { matrix, children } => {
                if let Some(i) = pick(matrix, self.model.len()) {
                    self.free_matrix(i, children);
                }
            }
            NestedOp::FreeRow {
                matrix,
                row,
                children,
            } => {
                if let Some(i) = pick(matrix, self.model.len()) {
                    if let Some(j) = pick(row, self.model[i].len()) {
                        self.free_row(i, j, children);
                    }
                }
            }
            NestedOp::ResizeRows {
                matrix,
                len,
                children,
            } => {
                if let Some(i) = pick(matrix, self.model.len()) {
                    self.resize_rows(i, usize::from(len) % (MAX_ROWS + 1), children);
                }
            }
            NestedOp::ResizeRow { matrix, row, len } => {
                if let Some(i) = pick(matrix, self.model.len()) {
                    if let Some(j) = pick(row, self.model[i].len()) {
                        self.resize_row(i, j, usize::from(len) % (MAX_ENTRIES + 1));
                    }
                }
            }
            NestedOp::Set {
                matrix,
                row,
                entry,
                column,
                value,
            } => {
                let Some(i) = pick(matrix, self.model.len()) else {
                    return;
                };
                let Some(j) = pick(row, self.model[i].len()) else {
                    return;
                };
                let Some(k) = pick(entry, self.model[i][j].len()) else {
                    return;
                };
                let row = self.row(i, j);
                self.pool[row.indices][k] = usize::from(column);
                self.pool[row.values][k] = f64::from_bits(value);
                self.model[i][j][k] = (usize::from(column), value);
            }
            NestedOp::Clear => self.clear(),
        }
    }

    fn matrix(&self, i: usize) -> SparseMatrix {
        self.pool[self.top][i]
    }

    fn row(&self, i: usize, j: usize) -> SparseRow {
        self.pool[self.matrix(i).rows][j]
    }

    /// Keeps `dead` for checking, replacing the oldest beyond [`MAX_DEAD`].
    fn bury(&mut self, dead: Dead) {
        if self.dead.len() < MAX_DEAD {
            self.dead.push(dead);
        } else {
            self.dead[self.buried % MAX_DEAD] = dead;
        }
        self.buried += 1;
    }

    fn new_row(&mut self, plain: &PlainRow) -> SparseRow {
        let indices: Vec<usize> = plain.iter().map(|&(column, _)| column).collect();
        let values: Vec<f64> = plain
            .iter()
            .map(|&(_, bits)| f64::from_bits(bits))
            .collect();
        SparseRow {
            length: plain.len(),
            indices: self.pool.alloc_slice(&indices).expect("indices"),
            values: self.pool.alloc_slice(&values).expect("values"),
        }
    }

    fn push(&mut self, rows: Vec<Vec<(u16, u64)>>) {
        let n = self.model.len();
        if n >= MAX_MATRICES {
            return;
        }
        let plain: PlainMatrix = rows
            .into_iter()
            .take(MAX_ROWS)
            .map(|row| {
                row.into_iter()
                    .take(MAX_ENTRIES)
                    .map(|(column, bits)| (usize::from(column), bits))
                    .collect()
            })
            .collect();
        let rows = self.pool.alloc::<SparseRow>(plain.len()).expect("rows");
        for (j, plain_row) in plain.iter().enumerate() {
            let row = self.new_row(plain_row);
            self.pool[rows][j] = row;
        }
        self.pool
            .realloc(self.top, n + 1)
            .expect("grow matrix array");
        let zeroed = self.matrix(n);
        assert!(
            zeroed.length == 0 && zeroed.rows.is_null(),
            "grown tail not zeroed"
        );
        self.pool[self.top][n] = SparseMatrix {
            length: plain.len(),
            rows,
        };
        self.model.push(plain);
    }

    /// Frees a row's arrays, or keeps the row as an orphan.
    fn drop_row(&mut self, row: SparseRow, plain: PlainRow, children: bool) {
        if children {
            self.pool.free(row.indices).expect("free indices");
            self.pool.free(row.values).expect("free values");
            self.bury(Dead::Indices(row.indices));
            self.bury(Dead::Values(row.values));
        } else {
            self.orphan_rows.push((row, plain));
        }
    }

    fn free_matrix(&mut self, i: usize, children: bool) {
        let matrix = self.matrix(i);
        let plain = self.model.remove(i);
        if children {
            let rows = self.pool[matrix.rows].to_vec();
            for (row, plain_row) in rows.into_iter().zip(plain) {
                self.drop_row(row, plain_row, true);
            }
            self.pool.free(matrix.rows).expect("free rows");
            self.bury(Dead::Rows(matrix.rows));
        } else {
            self.orphan_matrices.push((matrix, plain));
        }
        let n = self.pool[self.top].len();
        self.pool[self.top].copy_within(i + 1.., i);
        self.pool
            .realloc(self.top, n - 1)
            .expect("shrink matrix array");
    }

    fn free_row(&mut self, i: usize, j: usize, children: bool) {
        let matrix = self.matrix(i);
        let row = self.row(i, j);
        let plain = self.model[i].remove(j);
        self.drop_row(row, plain, children);
        self.pool[matrix.rows].copy_within(j + 1.., j);
        self.pool
            .realloc(matrix.rows, matrix.length - 1)
            .expect("shrink rows");
        self.pool[self.top][i].length -= 1;
    }

    fn resize_rows(&mut self, i: usize, len: usize, children: bool) {
        let matrix = self.matrix(i);
        let old = matrix.length;
        for j in len..old {
            let row = self.row(i, j);
            let plain = core::mem::take(&mut self.model[i][j]);
            self.drop_row(row, plain, children);
        }
        self.pool.realloc(matrix.rows, len).expect("resize rows");
        self.model[i].resize(len, Vec::new());
        for j in old..len {
            let zeroed = self.pool[matrix.rows][j];
            assert!(
                zeroed.length == 0 && zeroed.indices.is_null() && zeroed.values.is_null(),
                "grown rows not zeroed"
            );
            assert!(
                self.pool.get(zeroed.indices).is_none() && self.pool.get(zeroed.values).is_none()
            );
            let row = self.new_row(&Vec::new());
            self.pool[matrix.rows][j] = row;
        }
        self.pool[self.top][i].length = len;
    }

    fn resize_row(&mut self, i: usize, j: usize, len: usize) {
        let matrix = self.matrix(i);
        let row = self.row(i, j);
        self.pool.realloc(row.indices, len).expect("resize indices");
        self.pool.realloc(row.values, len).expect("resize values");
        self.pool[matrix.rows][j].length = len;
        self.model[i][j].resize(len, (0, 0));
    }

    fn clear(&mut self) {
        let mut handles = vec![Dead::Matrices(self.top)];
        let matrices = self.pool[self.top].iter().copied();
        let orphans = self.orphan_matrices.iter().map(|&(matrix, _)| matrix);
        for matrix in matrices.chain(orphans) {
            handles.push(Dead::Rows(matrix.rows));
            for row in &self.pool[matrix.rows] {
                handles.extend([Dead::Indices(row.indices), Dead::Values(row.values)]);
            }
        }
        for (row, _) in &self.orphan_rows {
            handles.extend([Dead::Indices(row.indices), Dead::Values(row.values)]);
        }
        for handle in handles {
            self.bury(handle);
        }
        self.pool.clear();
        assert_eq!(self.tracker.live_blocks(), 0, "blocks live after clear");
        self.model.clear();
        self.orphan_matrices.clear();
        self.orphan_rows.clear();
        self.top = self.pool.alloc(0).expect("empty matrix array");
    }

    fn check_row(&self, row: &SparseRow, plain: &PlainRow, tally: &mut Tally) {
        assert_eq!(row.length, plain.len(), "row length");
        let indices = self.pool.get(row.indices).expect("live indices");
        let values = self.pool.get(row.values).expect("live values");
        assert_eq!((indices.len(), values.len()), (plain.len(), plain.len()));
        for ((&column, &value), &expected) in indices.iter().zip(values).zip(plain) {
            assert_eq!((column, value.to_bits()), expected, "entry");
        }
        tally.add::<usize>(plain.len());
        tally.add::<f64>(plain.len());
    }

    fn check_matrix(&self, matrix: &SparseMatrix, plain: &PlainMatrix, tally: &mut Tally) {
        assert_eq!(matrix.length, plain.len(), "matrix length");
        let rows = self.pool.get(matrix.rows).expect("live rows");
        assert_eq!(rows.len(), plain.len(), "rows block length");
        for (row, plain_row) in rows.iter().zip(plain) {
            self.check_row(row, plain_row, tally);
        }
        tally.add::<SparseRow>(plain.len());
    }

    fn check(&mut self) {
        let mut tally = Tally::default();
        let matrices = self.pool.get(self.top).expect("live matrix array");
        assert_eq!(matrices.len(), self.model.len(), "matrix count");
        tally.add::<SparseMatrix>(matrices.len());
        for (matrix, plain) in matrices.iter().zip(&self.model) {
            self.check_matrix(matrix, plain, &mut tally);
        }
        for (matrix, plain) in &self.orphan_matrices {
            self.check_matrix(matrix, plain, &mut tally);
        }
        for (row, plain) in &self.orphan_rows {
            self.check_row(row, plain, &mut tally);
        }
        let observed = Tally {
            blocks: self.pool.len(),
            bytes: self.pool.size(),
            allocated: self.tracker.live_blocks(),
        };
        assert_eq!(observed, tally, "pool and allocator against the model");
        assert_eq!(
            self.tracker.live_bytes(),
            tally.bytes,
            "allocator's live bytes"
        );
        for &dead in &self.dead {
            match dead {
                Dead::Indices(handle) => check_dead(&mut self.pool, handle),
                Dead::Values(handle) => check_dead(&mut self.pool, handle),
                Dead::Rows(handle) => check_dead(&mut self.pool, handle),
                Dead::Matrices(handle) => check_dead(&mut self.pool, handle),
            }
        }
    }
}
