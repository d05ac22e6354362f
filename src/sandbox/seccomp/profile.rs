//! Seccomp profiles in Docker's JSON format, and their resolution for one service: which
//! rules apply given its capabilities, the host's architecture and kernel.

use serde::{Deserialize, Deserializer};

/// Docker's profiles write `null` for an empty list or filter.
fn null_as_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A profile as Docker's JSON spells it (both the `archMap` format and the older flat
/// `architectures` list).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    pub default_action: Action,
    #[serde(default, deserialize_with = "null_as_default")]
    pub default_errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub architectures: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub arch_map: Vec<ArchMap>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub syscalls: Vec<SyscallRule>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub flags: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub listener_path: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub listener_metadata: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sub_architectures: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyscallRule {
    #[serde(default, deserialize_with = "null_as_default")]
    pub names: Vec<String>,
    /// The older single-name form.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: Option<String>,
    pub action: Action,
    #[serde(default, deserialize_with = "null_as_default")]
    pub errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub args: Vec<Arg>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub includes: Filter,
    #[serde(default, deserialize_with = "null_as_default")]
    pub excludes: Filter,
    #[serde(default, deserialize_with = "null_as_default")]
    pub comment: Option<String>,
}

/// When a rule applies: every listed capability held, the host's architecture listed, the
/// kernel at least this version (`includes`); or the reverse (`excludes`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Filter {
    #[serde(default, deserialize_with = "null_as_default")]
    pub caps: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub arches: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub min_kernel: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub value_two: u64,
    pub op: Op,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum Action {
    #[default]
    #[serde(rename = "SCMP_ACT_KILL", alias = "SCMP_ACT_KILL_THREAD")]
    KillThread,
    #[serde(rename = "SCMP_ACT_KILL_PROCESS")]
    KillProcess,
    #[serde(rename = "SCMP_ACT_TRAP")]
    Trap,
    #[serde(rename = "SCMP_ACT_ERRNO")]
    Errno,
    #[serde(rename = "SCMP_ACT_TRACE")]
    Trace,
    #[serde(rename = "SCMP_ACT_ALLOW")]
    Allow,
    #[serde(rename = "SCMP_ACT_LOG")]
    Log,
    #[serde(rename = "SCMP_ACT_NOTIFY")]
    Notify,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub enum Op {
    #[serde(rename = "SCMP_CMP_NE")]
    Ne,
    #[serde(rename = "SCMP_CMP_LT")]
    Lt,
    #[serde(rename = "SCMP_CMP_LE")]
    Le,
    #[serde(rename = "SCMP_CMP_EQ")]
    Eq,
    #[serde(rename = "SCMP_CMP_GE")]
    Ge,
    #[serde(rename = "SCMP_CMP_GT")]
    Gt,
    #[serde(rename = "SCMP_CMP_MASKED_EQ")]
    MaskedEq,
}

/// What the filter does with a call: the action and, for `Errno` and `Trace`, its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Verdict {
    pub action: ActionKind,
    pub value: u32,
}

/// [`Action`] with a total order, for comparing resolved profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActionKind {
    KillThread,
    KillProcess,
    Trap,
    Errno,
    Trace,
    Allow,
    Log,
    Notify,
}

impl Action {
    fn kind(self) -> ActionKind {
        match self {
            Action::KillThread => ActionKind::KillThread,
            Action::KillProcess => ActionKind::KillProcess,
            Action::Trap => ActionKind::Trap,
            Action::Errno => ActionKind::Errno,
            Action::Trace => ActionKind::Trace,
            Action::Allow => ActionKind::Allow,
            Action::Log => ActionKind::Log,
            Action::Notify => ActionKind::Notify,
        }
    }
}

/// EPERM: the errno of an `SCMP_ACT_ERRNO` without `errnoRet`, as runc and Docker use.
const EPERM: u32 = 1;

fn verdict(action: Action, errno: Option<u32>) -> Verdict {
    let value = match action {
        Action::Errno => errno.unwrap_or(EPERM),
        Action::Trace => errno.unwrap_or(0),
        _ => 0,
    };
    Verdict {
        action: action.kind(),
        value,
    }
}

/// The host a profile is resolved for.
#[derive(Clone, Debug)]
pub struct Target {
    /// Capability names as Docker writes them (`CAP_SYS_ADMIN`) held in the bounding set.
    pub caps: Vec<String>,
    /// The host's architecture in Go's naming (`amd64`, `arm64`), as `arches` filters use.
    pub arch: &'static str,
    /// The running kernel's `(major, minor)`.
    pub kernel: (u32, u32),
}

/// A profile resolved for one service: the default, the architectures and the rules that
/// apply, each rule one system call with its conditions.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    pub default: Verdict,
    /// libseccomp architecture names (`SCMP_ARCH_X86_64`).
    pub architectures: Vec<String>,
    pub rules: Vec<Rule>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    pub syscall: String,
    pub verdict: Verdict,
    /// Conditions that must all hold (`(index, op, value, value_two)`).
    pub args: Vec<(u32, OpKind, u64, u64)>,
}

/// [`Op`] with a total order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpKind {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    MaskedEq,
}

impl From<Op> for OpKind {
    fn from(op: Op) -> OpKind {
        match op {
            Op::Ne => OpKind::Ne,
            Op::Lt => OpKind::Lt,
            Op::Le => OpKind::Le,
            Op::Eq => OpKind::Eq,
            Op::Ge => OpKind::Ge,
            Op::Gt => OpKind::Gt,
            Op::MaskedEq => OpKind::MaskedEq,
        }
    }
}

/// `5.10` or `5.10.0` as `(5, 10)`.
fn parse_kernel(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.split(['.', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The libseccomp name of the host's architecture family, for `archMap`.
fn native_scmp_arch(arch: &str) -> &'static str {
    match arch {
        "amd64" => "SCMP_ARCH_X86_64",
        "arm64" => "SCMP_ARCH_AARCH64",
        "386" | "x86" => "SCMP_ARCH_X86",
        "arm" => "SCMP_ARCH_ARM",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "s390x" => "SCMP_ARCH_S390X",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        _ => "SCMP_ARCH_NATIVE",
    }
}

impl Profile {
    /// Check what svcd cannot honour, so that a profile is refused rather than weakened.
    pub fn check(&self) -> Result<(), String> {
        if self.default_action == Action::Notify || self.listener_path.is_some() {
            return Err(
                "seccomp notify (`SCMP_ACT_NOTIFY`, `listenerPath`) is not supported".into(),
            );
        }
        if let Some(r) = self.syscalls.iter().find(|r| r.action == Action::Notify) {
            return Err(format!(
                "rule for {:?} uses SCMP_ACT_NOTIFY, which svcd does not support",
                r.names
            ));
        }
        if let Some(r) = self
            .syscalls
            .iter()
            .find(|r| r.names.is_empty() && r.name.is_none())
        {
            return Err(format!(
                "a rule with action {:?} names no system call",
                r.action
            ));
        }
        if let Some(f) = self.flags.first() {
            return Err(format!("seccomp flag `{f}` is not supported"));
        }
        Ok(())
    }

    /// The rules that apply to `target`, in profile order.
    pub fn resolve(&self, target: &Target) -> Resolved {
        let native = native_scmp_arch(target.arch);
        let architectures = if self.arch_map.is_empty() {
            self.architectures.clone()
        } else {
            self.arch_map
                .iter()
                .filter(|m| m.architecture == native)
                .flat_map(|m| {
                    std::iter::once(m.architecture.clone())
                        .chain(m.sub_architectures.iter().cloned())
                })
                .collect()
        };
        let held = |c: &String| target.caps.contains(c);
        let on_arch = |a: &String| a == target.arch;
        let kernel_at_least = |f: &Filter| {
            f.min_kernel
                .as_deref()
                .and_then(parse_kernel)
                .is_some_and(|k| target.kernel >= k)
        };
        // A rule applies when all its `includes` hold and none of its `excludes` does.
        let included = |f: &Filter| {
            f.caps.iter().all(held)
                && (f.arches.is_empty() || f.arches.iter().any(on_arch))
                && (f.min_kernel.is_none() || kernel_at_least(f))
        };
        let excluded = |f: &Filter| {
            f.caps.iter().any(held) || f.arches.iter().any(on_arch) || kernel_at_least(f)
        };
        let mut rules = Vec::new();
        for rule in &self.syscalls {
            if !included(&rule.includes) || excluded(&rule.excludes) {
                continue;
            }
            let v = verdict(rule.action, rule.errno_ret);
            let names = rule.names.iter().chain(rule.name.iter());
            // Conditions on one argument index are alternatives (runc adds one rule for
            // each); on different indexes they must all hold.
            let mut indexes: Vec<u32> = rule.args.iter().map(|a| a.index).collect();
            indexes.sort_unstable();
            let repeated = indexes.windows(2).any(|w| w[0] == w[1]);
            let arg = |a: &Arg| (a.index, OpKind::from(a.op), a.value, a.value_two);
            let groups: Vec<Vec<(u32, OpKind, u64, u64)>> = if repeated {
                rule.args.iter().map(|a| vec![arg(a)]).collect()
            } else {
                vec![rule.args.iter().map(arg).collect()]
            };
            for name in names {
                for args in &groups {
                    rules.push(Rule {
                        syscall: name.clone(),
                        verdict: v,
                        args: args.clone(),
                    });
                }
            }
        }
        Resolved {
            default: verdict(self.default_action, self.default_errno_ret),
            architectures,
            rules,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(caps: &[&str]) -> Target {
        Target {
            caps: caps.iter().map(|c| c.to_string()).collect(),
            arch: "amd64",
            kernel: (6, 1),
        }
    }

    fn names(r: &Resolved) -> Vec<&str> {
        r.rules.iter().map(|r| r.syscall.as_str()).collect()
    }

    const CONDITIONAL: &str = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
        ],
        "syscalls": [
            {"names": ["chmod"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["syslog"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYSLOG"]}},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
            {"names": ["breakpoint"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm"]}},
            {"names": ["newer"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "6.5"}},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"name": "personality", "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 2, "op": "SCMP_CMP_NE"}]}
        ]
    }"#;

    #[test]
    fn includes_and_excludes() {
        let p: Profile = serde_json::from_str(CONDITIONAL).unwrap();
        let r = p.resolve(&target(&["CAP_CHOWN"]));
        assert_eq!(r.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
        assert_eq!(
            r.default,
            Verdict {
                action: ActionKind::Errno,
                value: 1
            }
        );
        assert_eq!(
            names(&r),
            [
                "chmod",
                "ptrace",
                "arch_prctl",
                "clone3",
                "personality",
                "personality",
                "socket"
            ]
        );
        let r = p.resolve(&target(&["CAP_SYSLOG", "CAP_SYS_ADMIN"]));
        assert_eq!(
            names(&r),
            [
                "chmod",
                "syslog",
                "arch_prctl",
                "personality",
                "personality",
                "socket"
            ]
        );
        let new_kernel = Target {
            kernel: (6, 10),
            ..target(&[])
        };
        assert!(names(&p.resolve(&new_kernel)).contains(&"newer"));
        let clone3 = r.rules.iter().find(|r| r.syscall == "clone3");
        assert!(clone3.is_none());
        let r = p.resolve(&target(&[]));
        let clone3 = r.rules.iter().find(|r| r.syscall == "clone3").unwrap();
        assert_eq!(
            clone3.verdict,
            Verdict {
                action: ActionKind::Errno,
                value: 38
            }
        );
        let socket = r.rules.iter().find(|r| r.syscall == "socket").unwrap();
        assert_eq!(socket.args.len(), 2);
    }

    #[test]
    fn old_format_and_refusals() {
        let p: Profile = serde_json::from_str(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"name": "syslog", "action": "SCMP_ACT_ERRNO", "errnoRet": 12345, "args": []}]}"#,
        )
        .unwrap();
        let r = p.resolve(&target(&[]));
        assert_eq!(r.architectures, ["SCMP_ARCH_X86_64"]);
        assert_eq!(r.rules[0].verdict.value, 12345);
        let bad: Result<Profile, _> =
            serde_json::from_str(r#"{"defaultAction": "SCMP_ACT_MAYBE"}"#);
        assert!(bad.is_err());
        let notify: Profile =
            serde_json::from_str(r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#).unwrap();
        assert!(notify.check().is_err());
    }
}
