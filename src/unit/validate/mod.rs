//! From the YAML tree to a validated [`Unit`], collecting every problem with its position.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::file::{Node, Pos, Value};
use super::value::{self, did_you_mean};
use super::*;

mod ctx;
mod filesystem;
mod namespaces;
mod process;
mod resources;
mod security;
mod supervision;

use ctx::Ctx;
use filesystem::*;
use namespaces::*;
use process::*;
use resources::*;
use security::*;
use supervision::*;

/// Every top-level key a unit file may hold.
pub const KEYS: &[&str] = &[
    "autostart",
    "blkio_config",
    "cap_add",
    "cap_drop",
    "cgroup",
    "command",
    "cpu_period",
    "cpu_quota",
    "cpu_shares",
    "cpus",
    "cpuset",
    "depends_on",
    "description",
    "device_cgroup_rules",
    "devices",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "group_add",
    "healthcheck",
    "hostname",
    "init",
    "ipc",
    "labels",
    "log",
    "mem_limit",
    "mem_reservation",
    "memswap_limit",
    "network_mode",
    "notify",
    "oom_policy",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "privileged",
    "read_only",
    "restart",
    "restart_backoff",
    "rootfs",
    "security_opt",
    "shm_size",
    "start_limit",
    "stop_grace_period",
    "stop_signal",
    "sysctls",
    "tmpfs",
    "ulimits",
    "uts",
    "user",
    "user_namespace",
    "userns_mode",
    "volumes",
    "working_dir",
];

/// Compose keys that svcd knows but does not take, and what to do instead.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "image",
        "svcd runs programs from the host's root or from `rootfs`, not images",
    ),
    (
        "build",
        "svcd runs programs from the host's root or from `rootfs`, not images",
    ),
    ("container_name", "a unit's name is its file name"),
    (
        "ports",
        "svcd does no port forwarding; use `network_mode: host` to serve on the host's network",
    ),
    (
        "expose",
        "svcd does no port forwarding; use `network_mode: host` to serve on the host's network",
    ),
    ("networks", "use `network_mode`"),
    ("links", "use `depends_on`"),
    ("external_links", "use `depends_on`"),
    (
        "deploy",
        "set `mem_limit`, `cpus` and the other limits directly",
    ),
    ("logging", "use `log: {max_size, max_files}`"),
    ("volumes_from", "list the volumes in this unit"),
    ("extends", "each unit file stands alone"),
    (
        "profiles",
        "use `autostart: false` for units started on request",
    ),
    ("scale", "one unit is one service instance"),
    ("stdin_open", "services have no terminal"),
    ("tty", "services have no terminal"),
    ("platform", "services run on the host's architecture"),
    ("pull_policy", "svcd runs no images"),
    (
        "dns",
        "services use the host's /etc/resolv.conf or their rootfs's",
    ),
    (
        "extra_hosts",
        "services use the host's /etc/hosts or their rootfs's",
    ),
    (
        "mac_address",
        "svcd gives private networks only a loopback interface",
    ),
    ("runtime", "svcd is the runtime"),
    ("isolation", "svcd runs Linux services only"),
    ("secrets", "use `volumes` with a read-only bind mount"),
    ("configs", "use `volumes` with a read-only bind mount"),
];

/// Unit files larger than this are refused before they are parsed.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// What reading one unit file found.
#[derive(Debug)]
pub struct Parsed {
    /// The unit as far as it could be read: values in error are left at their defaults. Only
    /// for checks that span units; [`Parsed::valid`] is the unit to run.
    pub partial: Option<Unit>,
    /// Every error and warning, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    /// The unit, when the file has no errors.
    pub fn valid(&self) -> Option<&Unit> {
        self.partial.as_ref().filter(|_| !self.has_errors())
    }
}

/// Parse and validate the text of one unit file, finding every problem in it.
pub fn parse_unit(path: &Path, bytes: &[u8]) -> Parsed {
    let mut ctx = Ctx {
        path,
        diags: Vec::new(),
    };
    let unit = read_tree(&mut ctx, bytes).and_then(|root| match UnitName::new(ctx.unit_stem()) {
        Ok(name) => unit_from_tree(&mut ctx, name, &root),
        Err(msg) => {
            ctx.error(Pos::START, msg);
            None
        }
    });
    Parsed {
        partial: unit,
        diagnostics: ctx.diags,
    }
}

impl Pos {
    /// The start of a file, for problems with the file as a whole.
    pub const START: Pos = Pos { line: 1, column: 1 };
}

/// The position of byte `offset` in `bytes`, counting columns in characters where they decode.
fn pos_of_byte(bytes: &[u8], offset: usize) -> Pos {
    let before = &bytes[..offset];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    Pos {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
    }
}

/// Bytes to the YAML tree, reporting text and syntax problems.
fn read_tree(ctx: &mut Ctx, bytes: &[u8]) -> Option<Node> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let pos = pos_of_byte(bytes, e.valid_up_to());
            ctx.error(pos, "the file is not valid UTF-8 text");
            return None;
        }
    };
    if let Some(offset) = text.find('\0') {
        ctx.error(
            pos_of_byte(bytes, offset),
            "the file holds a NUL byte; unit files are text",
        );
        return None;
    }
    let mut options = serde_saphyr::Options::default();
    // YAML 1.2 booleans, as Compose reads them: `restart: no` is the string "no".
    options.strict_booleans = true;
    // Repeated keys reach `Ctx::fields`, which reports each with both positions.
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options.with_snippet = false;
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.max_nodes = MAX_NODES;
    options.budget = Some(budget);
    let docs: Vec<Node> = match serde_saphyr::from_str_multiple_with_options(text, options) {
        Ok(docs) => docs,
        Err(e) => {
            let pos = e.location().map_or(Pos::START, |l| Pos {
                line: u32::try_from(l.line()).unwrap_or(u32::MAX).max(1),
                column: u32::try_from(l.column()).unwrap_or(u32::MAX).max(1),
            });
            ctx.error(pos, yaml_message(&e));
            return None;
        }
    };
    match docs.as_slice() {
        [] => {
            ctx.error(
                Pos::START,
                "the file is empty: a unit needs at least a `command`",
            );
            None
        }
        [_, second, ..] => {
            ctx.error(
                second.pos,
                "a second YAML document: a unit file holds one unit (remove the `---`)",
            );
            None
        }
        [root] if root.value == Value::Null => {
            ctx.error(
                Pos::START,
                "the file is empty: a unit needs at least a `command`",
            );
            None
        }
        [root] => Some(root.clone()),
    }
}

/// How deeply unit files may nest; real units need four levels.
const MAX_DEPTH: usize = 64;
/// How many nodes a unit file may hold once aliases are expanded.
const MAX_NODES: usize = 100_000;

/// The parser's message without its location suffix (the diagnostic carries the position).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::Error;
    use serde_saphyr::budget::BudgetBreach;
    let mut inner = e;
    while let Error::AliasError { error, .. } | Error::WithSnippet { error, .. } = inner {
        inner = error;
    }
    let msg = match inner {
        Error::Budget {
            breach: BudgetBreach::Depth { .. },
            ..
        } => {
            format!("nesting goes deeper than the limit of {MAX_DEPTH} levels")
        }
        Error::Budget { breach, .. } => format!(
            "the document grows past the parser's limits ({breach:?}); aliases that expand \
             without bound (an alias bomb) do this"
        ),
        _ => {
            use serde_saphyr::MessageFormatter;
            serde_saphyr::DefaultMessageFormatter
                .format_message(inner)
                .into_owned()
        }
    };
    format!("invalid YAML: {msg}")
}

/// The unit with every default of DESIGN §2, before its file's keys are applied.
fn defaults(name: UnitName, path: &Path) -> Unit {
    Unit {
        name,
        path: path.to_path_buf(),
        description: None,
        autostart: true,
        labels: BTreeMap::new(),
        process: Process {
            entrypoint: Vec::new(),
            command: Vec::new(),
            environment: Vec::new(),
            env_files: Vec::new(),
            working_dir: None,
            user: None,
            group_add: Vec::new(),
            init: false,
            stop_signal: 15,
            stop_grace_period: Duration::from_secs(10),
            ulimits: Vec::new(),
        },
        filesystem: Filesystem {
            rootfs: None,
            read_only: false,
            volumes: Vec::new(),
            tmpfs: Vec::new(),
            shm_size: None,
            devices: Vec::new(),
        },
        namespaces: Namespaces {
            pid: Share::Private,
            ipc: Ipc::Private,
            network: Share::Private,
            uts: Share::Private,
            cgroup: Share::Private,
            hostname: None,
            domainname: None,
            user: UserNamespace::Host { explicit: false },
            sysctls: Vec::new(),
        },
        resources: Resources::default(),
        security: Security {
            privileged: false,
            cap_add: CapabilityList::default(),
            cap_drop: CapabilityList::default(),
            no_new_privileges: true,
            seccomp: Seccomp::Default,
            apparmor: None,
            selinux: None,
        },
        supervision: Supervision {
            restart: Restart::No,
            oom_policy: OomPolicy::Restart,
            restart_backoff: Backoff::default(),
            start_limit: StartLimit::default(),
            depends_on: Vec::new(),
            healthcheck: None,
            notify: false,
            log: LogConfig::default(),
        },
    }
}

fn unit_from_tree(ctx: &mut Ctx, name: UnitName, root: &Node) -> Option<Unit> {
    if !matches!(root.value, Value::Map(_)) {
        return ctx.expected(root, "a mapping of unit keys (like `command: [sleep, 10]`)");
    }
    let mut u = defaults(name, ctx.path);
    let mut entrypoint: Option<Vec<String>> = None;
    let mut command: Option<Vec<String>> = None;
    // Already reported: no need to add that there is nothing to run.
    let mut program_invalid = false;
    let mut cpu_limit_keys: Vec<(&str, Pos)> = Vec::new();
    let mut userns_host_at: Option<Pos> = None;
    let mut user_namespace_at: Option<Pos> = None;

    for (key, key_pos, v) in ctx.map_entries(root, "the unit") {
        let r = &mut u.resources;
        match key {
            "description" => u.description = ctx.string(v),
            "autostart" => set(&mut u.autostart, ctx.bool(v)),
            "labels" => u.labels = key_values(ctx, v, "labels").into_iter().collect(),
            "command" => {
                command = argv(ctx, v, false);
                program_invalid |= command.is_none();
            }
            "entrypoint" => {
                entrypoint = argv(ctx, v, true);
                program_invalid |= entrypoint.is_none();
            }
            "environment" => u.process.environment = environment(ctx, v),
            "env_file" => u.process.env_files = env_files(ctx, v),
            "working_dir" => u.process.working_dir = ctx.absolute_path(v, "working_dir"),
            "user" => u.process.user = ctx.parse(v, value::parse_user),
            "group_add" => {
                u.process.group_add = ctx
                    .list(v)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|g| ctx.parse(g, |t| value::parse_id_or_name(t, "group")))
                    .collect();
            }
            "init" => set(&mut u.process.init, ctx.bool(v)),
            "stop_signal" => {
                let sig = match v.value {
                    Value::Int(_) => ctx.int(v, 1, 64),
                    _ => ctx.parse(v, value::parse_signal),
                };
                set(&mut u.process.stop_signal, sig);
            }
            "stop_grace_period" => set(&mut u.process.stop_grace_period, ctx.duration(v)),
            "ulimits" => u.process.ulimits = ulimits(ctx, v),
            "rootfs" => u.filesystem.rootfs = rootfs(ctx, v),
            "read_only" => set(&mut u.filesystem.read_only, ctx.bool(v)),
            "volumes" => volumes(ctx, v, &mut u.filesystem),
            "tmpfs" => {
                for item in ctx.one_or_many(v) {
                    if let Some(t) = ctx.parse(item, parse_tmpfs) {
                        u.filesystem.tmpfs.push(t);
                    }
                }
            }
            "shm_size" => u.filesystem.shm_size = ctx.size(v),
            "devices" => u.filesystem.devices = devices(ctx, v),
            "pid" => set(&mut u.namespaces.pid, share(ctx, v, "pid", false)),
            "network_mode" => set(
                &mut u.namespaces.network,
                share(ctx, v, "network_mode", true),
            ),
            "uts" => set(&mut u.namespaces.uts, share(ctx, v, "uts", false)),
            "cgroup" => set(&mut u.namespaces.cgroup, share(ctx, v, "cgroup", false)),
            "ipc" => set(&mut u.namespaces.ipc, ipc(ctx, v)),
            "hostname" => u.namespaces.hostname = ctx.parse(v, |t| hostname(t, "hostname")),
            "domainname" => u.namespaces.domainname = ctx.parse(v, |t| hostname(t, "domainname")),
            "userns_mode" => {
                if ctx.choice(v, &[("host", ())]).is_some() {
                    userns_host_at = Some(key_pos);
                    u.namespaces.user = UserNamespace::Host { explicit: true };
                }
            }
            "user_namespace" => {
                user_namespace_at = Some(key_pos);
                set(&mut u.namespaces.user, user_namespace(ctx, v));
            }
            "sysctls" => u.namespaces.sysctls = sysctls(ctx, v),
            "mem_limit" => r.mem_limit = ctx.size(v),
            "mem_reservation" => r.mem_reservation = ctx.size(v),
            "memswap_limit" => {
                r.memswap_limit = match v.value {
                    Value::Int(-1) => Some(Limit::Unlimited),
                    _ => ctx.size(v).map(Limit::Max),
                }
            }
            "oom_score_adj" => r.oom_score_adj = ctx.int(v, -1000, 1000),
            // Docker's accepted range: the kernel's v1 minimum 2 up to its maximum 262144.
            "cpu_shares" => r.cpu_shares = ctx.int(v, 2u32, 262_144).map(u64::from),
            "cpus" => {
                cpu_limit_keys.push((key, key_pos));
                r.cpus = cpus(ctx, v);
            }
            "cpu_quota" => {
                cpu_limit_keys.push((key, key_pos));
                r.cpu_quota = cpu_quota(ctx, v);
            }
            "cpu_period" => {
                cpu_limit_keys.push((key, key_pos));
                r.cpu_period = microseconds(ctx, v, "cpu_period", 1_000, 1_000_000);
            }
            "cpuset" => r.cpuset = ctx.parse(v, value::parse_cpuset),
            "pids_limit" => {
                r.pids_limit = match v.value {
                    Value::Int(-1) => Some(Limit::Unlimited),
                    Value::Int(0) => {
                        ctx.error(v.pos, "pids_limit must be at least 1, or -1 for no limit");
                        None
                    }
                    _ => ctx.int(v, 1, i64::MAX).map(|n| Limit::Max(n as u64)),
                }
            }
            "blkio_config" => r.blkio_weight = blkio(ctx, v),
            "device_cgroup_rules" => {
                r.device_cgroup_rules = ctx
                    .list(v)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|n| ctx.parse(n, value::parse_device_rule))
                    .collect();
            }
            "cap_add" => u.security.cap_add = capabilities(ctx, v),
            "cap_drop" => u.security.cap_drop = capabilities(ctx, v),
            "privileged" => set(&mut u.security.privileged, ctx.bool(v)),
            "security_opt" => security_opt(ctx, v, &mut u.security),
            "restart" => set(&mut u.supervision.restart, ctx.parse(v, parse_restart)),
            "oom_policy" => {
                let choices = [
                    ("restart", OomPolicy::Restart),
                    ("stop", OomPolicy::Stop),
                    ("continue", OomPolicy::Continue),
                ];
                set(&mut u.supervision.oom_policy, ctx.choice(v, &choices));
            }
            "restart_backoff" => set(&mut u.supervision.restart_backoff, backoff(ctx, v)),
            "start_limit" => set(&mut u.supervision.start_limit, start_limit(ctx, v)),
            "depends_on" => u.supervision.depends_on = depends_on(ctx, v),
            "healthcheck" => u.supervision.healthcheck = healthcheck(ctx, v),
            "notify" => set(&mut u.supervision.notify, ctx.bool(v)),
            "log" => set(&mut u.supervision.log, log_config(ctx, v)),
            _ => match UNSUPPORTED.iter().find(|(k, _)| *k == key) {
                Some((_, instead)) => ctx.error(
                    key_pos,
                    format!("`{key}` is not supported by svcd: {instead}"),
                ),
                None => {
                    let hint = did_you_mean(key, KEYS.iter().copied());
                    ctx.error(key_pos, format!("unknown key `{key}`{hint}"));
                }
            },
        }
    }

    u.process.entrypoint = entrypoint.unwrap_or_default();
    u.process.command = command.unwrap_or_default();
    if u.process.argv().is_empty() && !program_invalid {
        ctx.error(
            Pos::START,
            "the unit has nothing to run: give it a `command` (or `entrypoint`)",
        );
    }
    if let (Some(host), Some(_)) = (userns_host_at, user_namespace_at) {
        ctx.error(
            host,
            "`userns_mode: host` conflicts with `user_namespace`: choose one",
        );
    }
    if u.resources.cpus.is_some() && cpu_limit_keys.len() > 1 {
        let (_, pos) = cpu_limit_keys
            .iter()
            .find(|(k, _)| *k != "cpus")
            .copied()
            .unwrap_or(("", Pos::START));
        ctx.error(pos, "`cpus` conflicts with `cpu_quota` and `cpu_period`: use `cpus` alone, or both of the others");
    }
    cross_checks(ctx, root, &u);
    risky_settings(ctx, root, &u, userns_host_at);
    Some(u)
}

pub(super) fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

/// Where a top-level key stands, for problems that involve more than one key.
fn key_pos(root: &Node, key: &str) -> Pos {
    match &root.value {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.value == Value::Str(key.to_owned()))
            .map_or(Pos::START, |(k, _)| k.pos),
        _ => Pos::START,
    }
}

/// Rules that tie several keys of one unit together.
fn cross_checks(ctx: &mut Ctx, root: &Node, u: &Unit) {
    let r = &u.resources;
    if let (Some(res), Some(limit)) = (r.mem_reservation, r.mem_limit)
        && res > limit
    {
        ctx.error(
            key_pos(root, "mem_reservation"),
            "mem_reservation must not exceed mem_limit",
        );
    }
    if let Some(limit) = r.mem_limit {
        // The smallest limit Docker accepts; below it a service cannot even start.
        if limit < 6 << 20 {
            ctx.error(key_pos(root, "mem_limit"), "mem_limit must be at least 6m");
        }
    }
    match (r.memswap_limit, r.mem_limit) {
        (Some(Limit::Max(_)), None) => ctx.error(
            key_pos(root, "memswap_limit"),
            "memswap_limit needs mem_limit: it limits memory and swap together",
        ),
        (Some(Limit::Max(swap)), Some(mem)) if swap < mem => ctx.error(
            key_pos(root, "memswap_limit"),
            "memswap_limit must be at least mem_limit (it counts memory and swap together)",
        ),
        _ => {}
    }
    let ns = &u.namespaces;
    for (key, value) in [("hostname", &ns.hostname), ("domainname", &ns.domainname)] {
        if value.is_some() && ns.uts != Share::Private {
            ctx.error(
                key_pos(root, key),
                format!("`{key}` needs a private UTS namespace, but `uts` shares another's"),
            );
        }
    }
    for (name, _) in &ns.sysctls {
        let (shared, key) = match sysctl_namespace(name) {
            Some(SysctlNs::Ipc) => (!matches!(ns.ipc, Ipc::Private | Ipc::Shareable), "ipc"),
            Some(SysctlNs::Net) => (ns.network != Share::Private, "network_mode"),
            None => continue,
        };
        if shared {
            ctx.error(
                key_pos(root, "sysctls"),
                format!("sysctl `{name}` needs a private namespace, but `{key}` shares another's"),
            );
        }
    }
    if let Some(h) = &u.supervision.healthcheck
        && h.test.is_empty()
    {
        ctx.error(key_pos(root, "healthcheck"), "healthcheck needs a `test`");
    }
    if u.process.init && u.namespaces.pid != Share::Private {
        ctx.error(
            key_pos(root, "init"),
            "`init: true` needs a private PID namespace, where the init is PID 1",
        );
    }
}

/// Settings that are valid but weaken isolation; reported as warnings.
fn risky_settings(ctx: &mut Ctx, root: &Node, u: &Unit, userns_host_at: Option<Pos>) {
    let s = &u.security;
    if s.privileged {
        ctx.warn(
            key_pos(root, "privileged"),
            "privileged: true gives the service every capability, every device and no seccomp filter",
        );
    }
    if s.cap_add.all {
        ctx.warn(
            key_pos(root, "cap_add"),
            "cap_add: ALL gives the service every capability",
        );
    } else if s.cap_add.caps.iter().any(|c| c.name() == "SYS_ADMIN") {
        ctx.warn(
            key_pos(root, "cap_add"),
            "cap_add: SYS_ADMIN is close to full root: it allows mounts, namespaces and much more",
        );
    }
    if s.seccomp == Seccomp::Unconfined {
        ctx.warn(
            key_pos(root, "security_opt"),
            "seccomp=unconfined runs the service without a system call filter",
        );
    }
    if let Some(at) = userns_host_at {
        let root_user = match &u.process.user {
            None => true,
            Some(spec) => {
                matches!(&spec.user, IdOrName::Id(0)) || spec.user == IdOrName::Name("root".into())
            }
        };
        if root_user {
            ctx.warn(
                at,
                "the service runs as root with the host's user ids: give it a `user` or a `user_namespace`",
            );
        }
    }
    for d in &u.filesystem.devices {
        if let Some(why) = risky_device(&d.host) {
            ctx.warn(
                key_pos(root, "devices"),
                format!("device `{}` {why}", d.host),
            );
        }
    }
}

fn risky_device(path: &str) -> Option<&'static str> {
    let name = path.strip_prefix("/dev/")?;
    match name {
        "mem" | "kmem" => Some("gives raw access to the host's memory"),
        "port" => Some("gives raw access to the host's I/O ports"),
        _ if ["sd", "hd", "vd", "xvd", "nvme", "mmcblk"]
            .iter()
            .any(|p| name.starts_with(p)) =>
        {
            Some("gives raw access to a host disk")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_positions() {
        assert_eq!(pos_of_byte(b"ab\ncd", 4), Pos { line: 2, column: 2 });
        assert_eq!(
            pos_of_byte("é\nx".as_bytes(), 2),
            Pos { line: 1, column: 2 }
        );
    }

    #[test]
    fn restart_policies() {
        assert_eq!(
            parse_restart("on-failure:3"),
            Ok(Restart::OnFailure(Some(3)))
        );
        assert_eq!(parse_restart("no"), Ok(Restart::No));
        assert!(
            parse_restart("alway")
                .unwrap_err()
                .contains("did you mean `always`?")
        );
    }

    #[test]
    fn tmpfs_options() {
        let t = parse_tmpfs("/run:size=64m,mode=1777,noexec").unwrap();
        assert_eq!(
            (t.size, t.mode, t.flags),
            (Some(64 << 20), Some(0o1777), vec!["noexec".to_owned()])
        );
        assert!(parse_tmpfs("run").is_err());
        assert!(
            parse_tmpfs("/run:bogus")
                .unwrap_err()
                .contains("not a tmpfs option")
        );
    }
}
