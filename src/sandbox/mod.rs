//! Everything between a start request and the service's `execve`: the plan built in the
//! daemon, and the helper process that applies it step by step.

pub mod caps;
pub mod helper;
pub mod lsm;
pub mod mounts;
pub mod namespaces;
pub mod plan;
pub mod seccomp;
pub mod spawn;
pub mod stage;
pub mod userns;
pub mod users;
