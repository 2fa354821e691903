//! The synchronisation primitives of the structures several workers share (the shared cache and
//! its memory budget, the worker group): std's, or shuttle's when the `shuttle` feature runs the
//! model checker over them, so the code checked is the code shipped.

#[cfg(feature = "shuttle")]
pub(crate) use shuttle::sync::{
    Arc, Mutex, MutexGuard, TryLockError,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};
#[cfg(not(feature = "shuttle"))]
pub(crate) use std::sync::{
    Arc, Mutex, MutexGuard, TryLockError,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};
