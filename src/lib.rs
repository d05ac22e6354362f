//! svcd: a service supervisor that runs every service in its own namespaces and cgroup.

pub mod cgroup;
pub mod run;
pub mod sandbox;
pub mod supervisor;
pub mod unit;
