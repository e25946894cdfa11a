//! The thread-per-core IO shell (DESIGN.md section 6): one glommio executor per core on
//! io_uring, each an independent node sharing nothing, behind a shared `SO_REUSEPORT` port.
//! Built after the mio runtime; empty until then.
