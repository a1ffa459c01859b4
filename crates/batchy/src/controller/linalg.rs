//! Tiny dense linear algebra for the projected-gradient controller.
#![allow(clippy::needless_range_loop)]

/// A dense row-major matrix.
pub type Mat = Vec<Vec<f64>>;

/// Matrix product `a @ b` (inner dimensions must agree; empty in, empty out).
pub fn matmul(a: &Mat, b: &Mat) -> Mat {
    let n = a.len();
    let k = b.len();
    let m = b.first().map_or(0, Vec::len);
    let mut c = vec![vec![0.0; m]; n];
    for i in 0..n {
        for j in 0..m {
            let mut s = 0.0;
            for l in 0..k {
                s += a[i][l] * b[l][j];
            }
            c[i][j] = s;
        }
    }
    c
}

/// Transpose.
pub fn transpose(a: &Mat) -> Mat {
    let n = a.len();
    let m = a.first().map_or(0, Vec::len);
    (0..m).map(|j| (0..n).map(|i| a[i][j]).collect()).collect()
}

/// Identity of size n.
pub fn identity(n: usize) -> Mat {
    (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect()
}

/// Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations:
/// returns (eigenvalues, eigenvectors as columns of V).
pub fn sym_eigen(a: &Mat) -> (Vec<f64>, Mat) {
    let n = a.len();
    let mut a = a.clone();
    let mut v = identity(n);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off < 1e-300 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q] == 0.0 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k][p];
                    let akq = a[k][q];
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p][k];
                    let aqk = a[q][k];
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let vkp = row[p];
                    let vkq = row[q];
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i][i]).collect(), v)
}

/// Moore–Penrose pseudo-inverse of a symmetric positive semi-definite matrix
/// (singular values below 1e-15·max are treated as zero, as numpy's `pinv`).
pub fn pinv_sym(a: &Mat) -> Mat {
    let n = a.len();
    let (lam, v) = sym_eigen(a);
    let smax = lam.iter().fold(0.0f64, |m, l| m.max(l.abs()));
    let cutoff = 1e-15 * smax;
    let inv: Vec<f64> = lam
        .iter()
        .map(|&l| if l.abs() > cutoff { 1.0 / l } else { 0.0 })
        .collect();
    let mut out = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..n {
            let mut s = 0.0;
            for k in 0..n {
                s += v[i][k] * inv[k] * v[j][k];
            }
            out[i][j] = s;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinv_of_invertible_is_inverse() {
        let a = vec![vec![5.0, 1.0], vec![1.0, 5.0]];
        let p = pinv_sym(&a);
        let i = matmul(&a, &p);
        for (r, row) in i.iter().enumerate() {
            for (c, x) in row.iter().enumerate() {
                let want = if r == c { 1.0 } else { 0.0 };
                assert!((x - want).abs() < 1e-12, "{i:?}");
            }
        }
    }

    #[test]
    fn pinv_of_singular_satisfies_penrose() {
        // rank 1
        let a = vec![vec![1.0, 2.0], vec![2.0, 4.0]];
        let p = pinv_sym(&a);
        let apa = matmul(&matmul(&a, &p), &a);
        for r in 0..2 {
            for c in 0..2 {
                assert!((apa[r][c] - a[r][c]).abs() < 1e-12);
            }
        }
    }
}
