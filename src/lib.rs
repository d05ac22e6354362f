//! svcd: a service supervisor that runs every service in its own namespaces and cgroup.

pub mod unit;
