//! Benchmark tooling for keel: a closed-loop memcached binary-protocol load generator
//! (`keel-loadgen`) and the side-by-side comparison, memory and instruction-count harness
//! (`keel-compare`). Linux only (it reads /proc).

pub mod loadgen;
pub mod procfs;
pub mod proto;
pub mod servers;
pub mod svg;
pub mod tls;
