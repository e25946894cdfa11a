//! The synchronisation primitives the shell uses, switched by `cfg(loom)` so that the
//! hand-off queue ([`crate::queue`]) is model-checked by loom with the same code that runs
//! in production (the pattern of tokio and crossbeam).

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};
