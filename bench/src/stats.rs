//! Small statistics helpers shared by the scenarios.

/// The `p` quantile (0 to 1) of ascending `sorted`, at the nearest index; NaN when empty.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}
