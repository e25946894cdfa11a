//! The process allocator of the `roster` binary and of its cluster bench: mimalloc, set up
//! for a server whose working set comes back.
//!
//! glibc's allocator merges its small free blocks whenever a large one (a pushed list) is
//! freed; after a burst of small frees (100,000 registrations withdrawn) that merge took
//! 40 ms on a thread in the push path. mimalloc frees per page, with no such sweep.
//!
//! Two of mimalloc's defaults cost a registry its push latency, measured with `perf` on the
//! cluster bench:
//! - transparent huge pages on its arenas (turned off at build time by the `no_thp`
//!   feature): a page returned to the OS and touched again came back as a fresh 2 MiB page
//!   the kernel zeroes, a fifth of the cluster's CPU under registration load;
//! - returning freed memory to the OS after a second unused ([`keep_freed_memory`]): the
//!   first change after a second of calm then faulted back every buffer of the push path,
//!   thousands of page faults, and took 18–29 ms where the next ones take 4–5 ms.

/// The allocator to declare with `#[global_allocator]`.
pub use mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`: its place in the `mi_option_e` enum of `mimalloc.h`,
/// which the Rust bindings do not name (a test checks it against the documented default).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The variable an operator sets to choose the purge delay (milliseconds; -1 never purges).
pub const PURGE_DELAY_ENV: &str = "MIMALLOC_PURGE_DELAY";

/// Keeps memory the process freed for its own reuse instead of returning it to the OS,
/// unless `MIMALLOC_PURGE_DELAY` is set (mimalloc reads it itself): a registry's pushes,
/// fetches and write batches need the same buffers at every change, so memory handed back
/// during a lull is faulted back in, page by page, on the change that ends it. The cost is
/// that the resident size stays at its peak; an operator who wants memory back after a
/// spike sets `MIMALLOC_PURGE_DELAY=1000` (mimalloc's default, in milliseconds).
pub fn keep_freed_memory() {
    if std::env::var_os(PURGE_DELAY_ENV).is_some() {
        return;
    }
    set_purge_delay(-1);
}

#[allow(unsafe_code)]
fn set_purge_delay(ms: std::ffi::c_long) {
    // SAFETY: `mi_option_set` stores a value in mimalloc's option table, which it reads
    // atomically; it has no preconditions, and -1 and any delay are valid values.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, ms) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(unsafe_code)]
    fn purge_delay() -> std::ffi::c_long {
        // SAFETY: reads mimalloc's option table; no preconditions.
        unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }
    }

    #[test]
    fn the_purge_delay_option_is_the_one_mimalloc_documents_and_keeping_memory_sets_it() {
        // One test, as the option table is global to the process.
        if std::env::var_os(PURGE_DELAY_ENV).is_none() {
            // mimalloc 3's documented default (options.c): a wrong index reads another
            // option, whose default is not 1000.
            assert_eq!(purge_delay(), 1000);
        }
        set_purge_delay(250);
        assert_eq!(purge_delay(), 250);
        if std::env::var_os(PURGE_DELAY_ENV).is_none() {
            keep_freed_memory();
            assert_eq!(purge_delay(), -1);
        }
    }
}
