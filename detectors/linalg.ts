/**
 * The little linear algebra the detection engine needs, on flat row-major Float64Arrays of
 * d × d. Covariance matrices here are small (one row and column per metric) and, after
 * shrinkage, positive definite, so a Cholesky factorisation is enough.
 */

/** Inverse of a symmetric positive-definite matrix, or null when it is not (numerically). */
export function invertSpd(a: Float64Array, d: number): Float64Array | null {
  const l = new Float64Array(d * d)
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * d + j]!
      for (let k = 0; k < j; k++) s -= l[i * d + k]! * l[j * d + k]!
      if (i === j) {
        if (!(s > 1e-12)) return null
        l[i * d + i] = Math.sqrt(s)
      } else l[i * d + j] = s / l[j * d + j]!
    }
  }
  // L⁻¹ by forward substitution, then A⁻¹ = L⁻ᵀ L⁻¹.
  const li = new Float64Array(d * d)
  for (let i = 0; i < d; i++) {
    li[i * d + i] = 1 / l[i * d + i]!
    for (let j = 0; j < i; j++) {
      let s = 0
      for (let k = j; k < i; k++) s -= l[i * d + k]! * li[k * d + j]!
      li[i * d + j] = s / l[i * d + i]!
    }
  }
  const inv = new Float64Array(d * d)
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0
      for (let k = i; k < d; k++) s += li[k * d + i]! * li[k * d + j]!
      inv[i * d + j] = s
      inv[j * d + i] = s
    }
  }
  return inv
}

/** xᵀ A x for a symmetric A. */
export function quadratic(a: Float32Array | Float64Array, x: ArrayLike<number>, d: number): number {
  let q = 0
  for (let i = 0; i < d; i++) {
    const xi = x[i]!
    if (xi === 0) continue
    let row = 0
    for (let j = 0; j < d; j++) row += a[i * d + j]! * x[j]!
    q += xi * row
  }
  return q
}

/** Solves the least-squares problem min ‖X w − y‖² + ridge ‖w‖² from its normal equations. */
export function ridgeSolve(xtx: Float64Array, xty: Float64Array, d: number, ridge: number): Float64Array | null {
  const a = Float64Array.from(xtx)
  for (let i = 0; i < d; i++) a[i * d + i]! += ridge
  const inv = invertSpd(a, d)
  if (!inv) return null
  const w = new Float64Array(d)
  for (let i = 0; i < d; i++) {
    let s = 0
    for (let j = 0; j < d; j++) s += inv[i * d + j]! * xty[j]!
    w[i] = s
  }
  return w
}
