//! Counts units of decoding work (bytes scanned, items and members visited) so that property
//! tests can check that work grows linearly with the input; compiled out of every other build.

#[cfg(test)]
use std::cell::Cell;

#[cfg(test)]
thread_local! {
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

/// Counts `n` units of work on this thread.
#[cfg(test)]
pub(crate) fn tick(n: usize) {
    COUNT.with(|c| c.set(c.get().saturating_add(n as u64)));
}

/// Counts nothing: outside tests the count is compiled out.
#[cfg(not(test))]
#[inline(always)]
pub(crate) fn tick(_: usize) {}

/// The work counted on this thread since the last call.
#[cfg(test)]
pub(crate) fn take() -> u64 {
    COUNT.with(|c| c.replace(0))
}
