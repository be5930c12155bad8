//! cymem's README example, ported: an array of sparse matrices whose rows own
//! index and value arrays, all in one `Pool`. There is no `sparse_matrix_free`
//! and no `Drop` impl: dropping `MatrixArray` drops its pool, which frees every
//! block.
//!
//! Run with `cargo run --release --example sparse_matrix`.

use bytemuck::{Pod, Zeroable};
use cymem::{Handle, Pool, PoolError};

/// One row: `length` entries, column `indices[j]` holds `values[j]`.
#[derive(Clone, Copy, Zeroable, Pod)]
#[repr(C)]
struct SparseRow {
    length: usize,
    indices: Handle<usize>,
    values: Handle<f64>,
}

#[derive(Clone, Copy, Zeroable, Pod)]
#[repr(C)]
struct SparseMatrix {
    length: usize,
    rows: Handle<SparseRow>,
}

/// The plain data the matrices are built from: matrix -> row -> (column, value).
type PlainMatrix = Vec<Vec<(usize, f64)>>;

struct MatrixArray {
    pool: Pool,
    matrices: Handle<SparseMatrix>,
}

impl MatrixArray {
    fn new(plain: &[PlainMatrix]) -> Result<Self, PoolError> {
        let mut pool = Pool::new();
        let matrices = pool.alloc::<SparseMatrix>(plain.len())?;
        for (i, plain_matrix) in plain.iter().enumerate() {
            let matrix = sparse_matrix_init(&mut pool, plain_matrix)?;
            pool[matrices][i] = matrix;
        }
        Ok(MatrixArray { pool, matrices })
    }

    fn len(&self) -> usize {
        self.pool[self.matrices].len()
    }

    fn rows(&self, matrix: usize) -> &[SparseRow] {
        &self.pool[self.pool[self.matrices][matrix].rows]
    }

    fn entries(&self, row: &SparseRow) -> impl Iterator<Item = (usize, f64)> + '_ {
        let indices = &self.pool[row.indices];
        let values = &self.pool[row.values];
        indices.iter().copied().zip(values.iter().copied())
    }

    fn sum(&self, matrix: usize) -> f64 {
        let rows = self.rows(matrix);
        rows.iter()
            .flat_map(|row| self.entries(row))
            .map(|(_, v)| v)
            .sum()
    }
}

fn sparse_matrix_init(pool: &mut Pool, plain: &PlainMatrix) -> Result<SparseMatrix, PoolError> {
    let rows = pool.alloc::<SparseRow>(plain.len())?;
    for (i, plain_row) in plain.iter().enumerate() {
        let indices: Vec<usize> = plain_row.iter().map(|&(column, _)| column).collect();
        let values: Vec<f64> = plain_row.iter().map(|&(_, value)| value).collect();
        let row = SparseRow {
            length: plain_row.len(),
            indices: pool.alloc_slice(&indices)?,
            values: pool.alloc_slice(&values)?,
        };
        pool[rows][i] = row;
    }
    Ok(SparseMatrix {
        length: plain.len(),
        rows,
    })
}

/// Deterministic pseudo-random matrices (a 64-bit LCG), so runs are comparable.
fn plain_matrices(count: usize) -> Vec<PlainMatrix> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |bound: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % bound
    };
    (0..count)
        .map(|_| {
            let rows = 1 + next(6) as usize;
            (0..rows)
                .map(|_| {
                    let entries = next(5) as usize; // empty rows too
                    (0..entries)
                        .map(|j| (j * 3 + next(3) as usize, next(100) as f64 / 4.0))
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn main() -> Result<(), PoolError> {
    let plain = plain_matrices(1000);
    let array = MatrixArray::new(&plain)?;

    println!(
        "{} sparse matrices in one pool: {} blocks, {} bytes",
        array.len(),
        array.pool.len(),
        array.pool.size()
    );
    for m in 0..2 {
        let matrix = array.pool[array.matrices][m];
        println!("matrix {m}: {} rows", matrix.length);
        for (r, row) in array.rows(m).iter().enumerate() {
            let entries: Vec<String> = array
                .entries(row)
                .map(|(c, v)| format!("[{c}]={v}"))
                .collect();
            println!("  row {r} ({} entries): {}", row.length, entries.join(" "));
        }
        println!("  sum = {}", array.sum(m));
    }

    // Check every value against the plain data it was built from.
    let total: f64 = (0..array.len()).map(|m| array.sum(m)).sum();
    let expected: f64 = plain.iter().flatten().flatten().map(|&(_, v)| v).sum();
    for (m, plain_matrix) in plain.iter().enumerate() {
        for (row, plain_row) in array.rows(m).iter().zip(plain_matrix) {
            assert!(
                array.entries(row).eq(plain_row.iter().copied()),
                "matrix {m} differs"
            );
        }
    }
    assert_eq!(total, expected);
    println!(
        "sum of all {} matrices = {total} (plain data: {expected})",
        array.len()
    );

    // 1 array block + per matrix one rows block + per row two blocks.
    let rows: usize = plain.iter().map(Vec::len).sum();
    assert_eq!(array.pool.len(), 1 + plain.len() + 2 * rows);
    println!(
        "dropping the array frees all {} blocks: no free-walk written",
        array.pool.len()
    );
    Ok(())
}
