//! From the YAML tree to a validated [`Unit`], collecting every problem with its position.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::{Node, Pos, Value};
use super::value::{self, CapabilityName, did_you_mean};
use super::*;

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

/// Parse and validate the text of one unit file. Returns the unit when it has no errors, and
/// every diagnostic found (errors and warnings) either way.
pub fn parse_unit(path: &Path, bytes: &[u8]) -> (Option<Unit>, Vec<Diagnostic>) {
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
    let failed = ctx.diags.iter().any(|d| d.severity == Severity::Error);
    (unit.filter(|_| !failed), ctx.diags)
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

/// The parser's message without its location suffix (the diagnostic carries the position).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::MessageFormatter;
    let msg = serde_saphyr::DefaultMessageFormatter.format_message(e.without_snippet());
    format!("invalid YAML: {msg}")
}

/// Collects diagnostics and reads typed values out of nodes.
struct Ctx<'a> {
    path: &'a Path,
    diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn push(&mut self, pos: Pos, severity: Severity, message: String) {
        self.diags.push(Diagnostic {
            path: self.path.to_path_buf(),
            pos,
            severity,
            message,
        });
    }

    fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.push(pos, Severity::Error, message.into());
    }

    fn warn(&mut self, pos: Pos, message: impl Into<String>) {
        self.push(pos, Severity::Warning, message.into());
    }

    fn expected<T>(&mut self, node: &Node, what: &str) -> Option<T> {
        self.error(
            node.pos,
            format!("expected {what}, found {}", node.value.kind()),
        );
        None
    }

    /// The unit's name as its file gives it.
    fn unit_stem(&self) -> &str {
        self.path.file_stem().and_then(|s| s.to_str()).unwrap_or("")
    }

    /// The directory that relative paths in this unit are resolved against.
    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// A scalar as text. Integers are taken as their digits (`hostname: 1234`); other
    /// non-strings are refused so that `1.10` or `true` are not silently reformatted.
    fn string(&mut self, node: &Node) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            _ => self.expected(node, "a string"),
        }
    }

    /// Any scalar as text, for values Compose lets be numbers or booleans (environment, labels).
    fn scalar_text(&mut self, node: &Node) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => self.expected(node, "a string"),
        }
    }

    fn bool(&mut self, node: &Node) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => self.expected(node, "`true` or `false`"),
        }
    }

    fn int<T: TryFrom<i64> + std::fmt::Display>(&mut self, node: &Node, min: T, max: T) -> Option<T>
    where
        i64: From<T>,
    {
        let (lo, hi) = (i64::from(min), i64::from(max));
        match node.value {
            Value::Int(i) if (lo..=hi).contains(&i) => T::try_from(i).ok(),
            Value::Int(i) => {
                self.error(node.pos, format!("{i} is out of range ({lo} to {hi})"));
                None
            }
            _ => self.expected(node, "a whole number"),
        }
    }

    /// A string value run through one of the parsers of [`value`].
    fn parse<T>(&mut self, node: &Node, parser: impl Fn(&str) -> Result<T, String>) -> Option<T> {
        let text = self.string(node)?;
        parser(&text).map_err(|msg| self.error(node.pos, msg)).ok()
    }

    /// A size: a number of bytes, or a string such as `256m`.
    fn size(&mut self, node: &Node) -> Option<u64> {
        match node.value {
            Value::Int(i) if i >= 0 => Some(i as u64),
            Value::Int(_) => {
                self.error(node.pos, "a size cannot be negative");
                None
            }
            _ => self.parse(node, value::parse_size),
        }
    }

    fn duration(&mut self, node: &Node) -> Option<Duration> {
        match node.value {
            Value::Int(i) => {
                self.error(
                    node.pos,
                    format!("`{i}` is not a duration: it has no unit (write `{i}s` for seconds)"),
                );
                None
            }
            _ => self.parse(node, value::parse_duration),
        }
    }

    fn list<'n>(&mut self, node: &'n Node) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => self.expected(node, "a list"),
        }
    }

    /// A value Compose allows as one string or a list of strings.
    fn one_or_many<'n>(&mut self, node: &'n Node) -> Vec<&'n Node> {
        match &node.value {
            Value::Seq(items) => items.iter().collect(),
            Value::Str(_) => vec![node],
            _ => {
                self.expected::<()>(node, "a string or a list");
                Vec::new()
            }
        }
    }

    /// The entries of a mapping whose keys must come from `known`; reports unknown and repeated
    /// keys and returns the others in file order.
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        known: &[&str],
    ) -> Vec<(&'n str, &'n Node)> {
        self.map_entries(node, what)
            .into_iter()
            .filter(|(key, key_pos, _)| {
                if known.contains(key) {
                    return true;
                }
                let hint = did_you_mean(key, known.iter().copied());
                self.error(*key_pos, format!("unknown key `{key}` in {what}{hint}"));
                false
            })
            .map(|(key, _, value)| (key, value))
            .collect()
    }

    /// The entries of a mapping with string keys, each key once.
    fn map_entries<'n>(&mut self, node: &'n Node, what: &str) -> Vec<(&'n str, Pos, &'n Node)> {
        let Value::Map(entries) = &node.value else {
            self.expected::<()>(node, &format!("a mapping for {what}"));
            return Vec::new();
        };
        let mut seen: BTreeMap<&str, Pos> = BTreeMap::new();
        let mut out = Vec::new();
        for (key, value) in entries {
            let Value::Str(name) = &key.value else {
                self.error(
                    key.pos,
                    format!("keys in {what} must be strings, found {}", key.value.kind()),
                );
                continue;
            };
            if let Some(first) = seen.get(name.as_str()) {
                self.error(
                    key.pos,
                    format!("duplicate key `{name}` (first given at {first})"),
                );
                continue;
            }
            seen.insert(name, key.pos);
            out.push((name.as_str(), key.pos, value));
        }
        out
    }

    /// One of a fixed set of words; suggests the closest when it is none of them.
    fn choice<T: Copy>(&mut self, node: &Node, choices: &[(&str, T)]) -> Option<T> {
        let text = self.string(node)?;
        if let Some((_, v)) = choices.iter().find(|(word, _)| *word == text) {
            return Some(*v);
        }
        let words: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
        let hint = did_you_mean(&text, words.iter().copied());
        self.error(
            node.pos,
            format!("`{text}` is not one of {}{hint}", quote_list(&words)),
        );
        None
    }

    /// A path that must be absolute (a path inside the service).
    fn absolute_path(&mut self, node: &Node, what: &str) -> Option<PathBuf> {
        let text = self.string(node)?;
        if text.starts_with('/') {
            Some(PathBuf::from(text))
        } else {
            self.error(
                node.pos,
                format!("{what} `{text}` must be an absolute path"),
            );
            None
        }
    }

    /// A host path, relative ones taken from the unit file's directory.
    fn host_path(&mut self, node: &Node) -> Option<PathBuf> {
        let text = self.string(node)?;
        if text.is_empty() {
            self.error(node.pos, "the path is empty");
            return None;
        }
        Some(self.dir().join(text))
    }

    /// A host file that svcd reads itself; it must exist.
    fn existing_file(&mut self, node: &Node, what: &str) -> Option<PathBuf> {
        let path = self.host_path(node)?;
        if path.is_file() {
            Some(path)
        } else {
            self.error(
                node.pos,
                format!(
                    "{what} `{}` does not exist or is not a file",
                    path.display()
                ),
            );
            None
        }
    }
}

fn quote_list(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
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
            argv: Vec::new(),
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
    let mut cpu_limit_keys: Vec<(&str, Pos)> = Vec::new();
    let mut userns_host_at: Option<Pos> = None;
    let mut user_namespace_at: Option<Pos> = None;

    for (key, key_pos, v) in ctx.map_entries(root, "the unit") {
        let r = &mut u.resources;
        match key {
            "description" => u.description = ctx.string(v),
            "autostart" => set(&mut u.autostart, ctx.bool(v)),
            "labels" => u.labels = key_values(ctx, v, "labels").into_iter().collect(),
            "command" => command = argv(ctx, v, false),
            "entrypoint" => entrypoint = argv(ctx, v, true),
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

    u.process.argv = entrypoint.into_iter().chain(command).flatten().collect();
    if u.process.argv.is_empty() {
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

fn set<T>(field: &mut T, value: Option<T>) {
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
    if let (Some(res), Some(limit)) = (r.mem_reservation, r.mem_limit) {
        if res > limit {
            ctx.error(
                key_pos(root, "mem_reservation"),
                "mem_reservation must not exceed mem_limit",
            );
        }
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
    if let Some(h) = &u.supervision.healthcheck {
        if h.test.is_empty() {
            ctx.error(key_pos(root, "healthcheck"), "healthcheck needs a `test`");
        }
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

/// `command`/`entrypoint`: a list, or a string split as a shell would split it.
fn argv(ctx: &mut Ctx, node: &Node, empty_ok: bool) -> Option<Vec<String>> {
    let words = match &node.value {
        Value::Str(_) => ctx.parse(node, value::split_command)?,
        Value::Seq(items) => items.iter().filter_map(|i| ctx.scalar_text(i)).collect(),
        Value::Null if empty_ok => Vec::new(),
        _ => return ctx.expected(node, "a list of arguments or a command string"),
    };
    if words.is_empty() && !empty_ok {
        ctx.error(node.pos, "the command is empty");
        return None;
    }
    Some(words)
}

/// `KEY: value` maps or `KEY=value` lists, as `environment`, `labels` and `sysctls` take them.
/// A list item without `=` has no value.
fn key_value_entries(ctx: &mut Ctx, node: &Node, what: &str) -> Vec<(Pos, String, Option<String>)> {
    match &node.value {
        Value::Map(_) => ctx
            .map_entries(node, what)
            .into_iter()
            .map(|(k, pos, v)| {
                let value = match v.value {
                    Value::Null => None,
                    _ => ctx.scalar_text(v),
                };
                (pos, k.to_owned(), value)
            })
            .collect(),
        Value::Seq(items) => items
            .iter()
            .filter_map(|item| {
                let text = ctx.string(item)?;
                Some(match text.split_once('=') {
                    Some((k, v)) => (item.pos, k.to_owned(), Some(v.to_owned())),
                    None => (item.pos, text, None),
                })
            })
            .collect(),
        _ => {
            ctx.expected::<()>(node, "a mapping or a list of `KEY=value`");
            Vec::new()
        }
    }
}

/// Labels and the like: every entry needs a value.
fn key_values(ctx: &mut Ctx, node: &Node, what: &str) -> Vec<(String, String)> {
    key_value_entries(ctx, node, what)
        .into_iter()
        .filter_map(|(pos, k, v)| match v {
            Some(v) => Some((k, v)),
            None => {
                ctx.error(
                    pos,
                    format!("`{k}` in {what} has no value (write `{k}=value`)"),
                );
                None
            }
        })
        .collect()
}

fn environment(ctx: &mut Ctx, node: &Node) -> Vec<(String, Option<String>)> {
    key_value_entries(ctx, node, "environment")
        .into_iter()
        .filter_map(|(pos, k, v)| {
            if k.is_empty() || k.contains(['=', '\0']) {
                ctx.error(
                    pos,
                    format!("`{k}` is not a valid environment variable name"),
                );
                return None;
            }
            if v.as_deref().is_some_and(|v| v.contains('\0')) {
                ctx.error(pos, format!("the value of `{k}` holds a NUL byte"));
                return None;
            }
            Some((k, v))
        })
        .collect()
}

fn env_files(ctx: &mut Ctx, node: &Node) -> Vec<EnvFile> {
    let mut files = Vec::new();
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    for item in items {
        let (path_node, required) = match &item.value {
            Value::Map(_) => {
                let mut path = None;
                let mut required = true;
                for (k, v) in ctx.fields(item, "env_file", &["path", "required"]) {
                    match k {
                        "path" => path = Some(v),
                        _ => set(&mut required, ctx.bool(v)),
                    }
                }
                let Some(path) = path else {
                    ctx.error(item.pos, "env_file entry needs a `path`");
                    continue;
                };
                (path, required)
            }
            _ => (item, true),
        };
        let path = if required {
            ctx.existing_file(path_node, "env_file")
        } else {
            ctx.host_path(path_node)
        };
        if let Some(path) = path {
            files.push(EnvFile { path, required });
        }
    }
    files
}

/// The `RLIMIT_*` resources `ulimits` may name.
const ULIMITS: &[&str] = &[
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

fn ulimits(ctx: &mut Ctx, node: &Node) -> Vec<Ulimit> {
    let mut out = Vec::new();
    for (name, pos, v) in ctx.map_entries(node, "ulimits") {
        if !ULIMITS.contains(&name) {
            let hint = did_you_mean(name, ULIMITS.iter().copied());
            ctx.error(pos, format!("`{name}` is not a resource limit{hint}"));
            continue;
        }
        let limit = |ctx: &mut Ctx, n: &Node| -> Option<Option<u64>> {
            match n.value {
                Value::Int(-1) => Some(None),
                _ => ctx.int(n, 0, i64::MAX).map(|v| Some(v as u64)),
            }
        };
        let (soft, hard) = match &v.value {
            Value::Map(_) => {
                let (mut soft, mut hard) = (None, None);
                for (k, n) in ctx.fields(v, &format!("ulimits.{name}"), &["soft", "hard"]) {
                    let l = limit(ctx, n);
                    if k == "soft" { soft = l } else { hard = l }
                }
                match (soft, hard) {
                    (Some(s), Some(h)) => (s, h),
                    _ => {
                        ctx.error(
                            v.pos,
                            format!("ulimits.{name} needs both `soft` and `hard`"),
                        );
                        continue;
                    }
                }
            }
            _ => match limit(ctx, v) {
                Some(l) => (l, l),
                None => continue,
            },
        };
        if let (Some(s), Some(h)) = (soft, hard) {
            if s > h {
                ctx.error(
                    v.pos,
                    format!("ulimits.{name}: soft limit {s} exceeds hard limit {h}"),
                );
                continue;
            }
        } else if soft.is_none() && hard.is_some() {
            ctx.error(
                v.pos,
                format!("ulimits.{name}: an unlimited soft limit exceeds the hard limit"),
            );
            continue;
        }
        out.push(Ulimit {
            name: name.to_owned(),
            soft,
            hard,
        });
    }
    out
}

fn rootfs(ctx: &mut Ctx, node: &Node) -> Option<PathBuf> {
    let path = ctx.absolute_path(node, "rootfs")?;
    if path.is_dir() {
        Some(path)
    } else {
        ctx.error(
            node.pos,
            format!(
                "rootfs `{}` does not exist or is not a directory",
                path.display()
            ),
        );
        None
    }
}

fn propagation(text: &str) -> Option<Propagation> {
    Some(match text {
        "private" => Propagation::Private,
        "rprivate" => Propagation::RPrivate,
        "shared" => Propagation::Shared,
        "rshared" => Propagation::RShared,
        "slave" => Propagation::Slave,
        "rslave" => Propagation::RSlave,
        _ => return None,
    })
}

fn volumes(ctx: &mut Ctx, node: &Node, fs: &mut Filesystem) {
    for item in ctx.list(node).unwrap_or_default() {
        match &item.value {
            Value::Map(_) => long_volume(ctx, item, fs),
            _ => {
                if let Some(v) = short_volume(ctx, item) {
                    fs.volumes.push(v);
                }
            }
        }
    }
}

/// `SRC:DST[:OPTS]`, as `docker run -v` and Compose's short syntax.
fn short_volume(ctx: &mut Ctx, node: &Node) -> Option<Volume> {
    let text = ctx.string(node)?;
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, opts) = match parts.as_slice() {
        [s, t] => (*s, *t, ""),
        [s, t, o] => (*s, *t, *o),
        [_] => {
            ctx.error(node.pos, format!("`{text}` names no host path: svcd has no anonymous volumes; write `/host/dir:{text}`"));
            return None;
        }
        _ => {
            ctx.error(
                node.pos,
                format!("`{text}` is not a volume: write `SOURCE:TARGET[:ro]`"),
            );
            return None;
        }
    };
    if !(source.starts_with('/') || source.starts_with('.')) {
        ctx.error(node.pos, format!("`{source}` is a named volume, which svcd does not have: use a host path such as `/srv/{source}` or `./{source}`"));
        return None;
    }
    if !target.starts_with('/') {
        ctx.error(
            node.pos,
            format!("volume target `{target}` must be an absolute path"),
        );
        return None;
    }
    let mut volume = Volume {
        source: ctx.dir().join(source),
        target: PathBuf::from(target),
        read_only: false,
        propagation: None,
        create_host_path: true,
    };
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" => volume.read_only = true,
            "rw" => volume.read_only = false,
            _ => match propagation(opt) {
                Some(p) => volume.propagation = Some(p),
                None => {
                    ctx.error(node.pos, format!("`{opt}` is not a volume option: use `ro`, `rw`, or a propagation such as `rslave`"));
                    return None;
                }
            },
        }
    }
    Some(volume)
}

fn long_volume(ctx: &mut Ctx, node: &Node, fs: &mut Filesystem) {
    let fields = ctx.fields(
        node,
        "a volume",
        &["type", "source", "target", "read_only", "bind", "tmpfs"],
    );
    let get = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    let kind = match get("type") {
        Some(t) => ctx.choice(
            t,
            &[("bind", "bind"), ("tmpfs", "tmpfs"), ("volume", "volume")],
        ),
        None => {
            ctx.error(node.pos, "the volume needs a `type`: `bind` or `tmpfs`");
            None
        }
    };
    let target = match get("target") {
        Some(t) => ctx.absolute_path(t, "volume target"),
        None => {
            ctx.error(node.pos, "the volume needs a `target`");
            None
        }
    };
    let read_only = get("read_only").and_then(|n| ctx.bool(n)).unwrap_or(false);
    match kind {
        Some("volume") => {
            ctx.error(
                get("type").map_or(node.pos, |n| n.pos),
                "named volumes are not supported by svcd: use `type: bind` with a host path",
            );
        }
        Some("tmpfs") => {
            let mut t = Tmpfs {
                target: target.unwrap_or_default(),
                size: None,
                mode: None,
                flags: Vec::new(),
            };
            if read_only {
                t.flags.push("ro".into());
            }
            if let Some(opts) = get("tmpfs") {
                for (k, v) in ctx.fields(opts, "tmpfs options", &["size", "mode"]) {
                    if k == "size" {
                        t.size = ctx.size(v);
                    } else {
                        t.mode = tmpfs_mode(ctx, v);
                    }
                }
            }
            fs.tmpfs.push(t);
        }
        Some(_) => {
            let source = match get("source") {
                Some(s) => ctx.host_path(s),
                None => {
                    ctx.error(node.pos, "a bind volume needs a `source`");
                    None
                }
            };
            let mut v = Volume {
                source: source.unwrap_or_default(),
                target: target.unwrap_or_default(),
                read_only,
                propagation: None,
                // Compose's long syntax does not create a missing source unless told to.
                create_host_path: false,
            };
            if let Some(bind) = get("bind") {
                for (k, n) in ctx.fields(bind, "bind options", &["propagation", "create_host_path"])
                {
                    if k == "create_host_path" {
                        set(&mut v.create_host_path, ctx.bool(n));
                    } else {
                        let choices: Vec<(&str, Propagation)> = [
                            "private", "rprivate", "shared", "rshared", "slave", "rslave",
                        ]
                        .iter()
                        .filter_map(|p| Some((*p, propagation(p)?)))
                        .collect();
                        v.propagation = ctx.choice(n, &choices);
                    }
                }
            }
            fs.volumes.push(v);
        }
        None => {}
    }
}

fn tmpfs_mode(ctx: &mut Ctx, node: &Node) -> Option<u32> {
    // YAML reads `1777` as a decimal number; the digits are octal all the same.
    let text = match node.value {
        Value::Int(i) => i.to_string(),
        _ => ctx.string(node)?,
    };
    parse_mode(&text).map_err(|m| ctx.error(node.pos, m)).ok()
}

fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => Err(format!(
            "`{text}` is not a file mode: use octal digits, like `1777`"
        )),
    }
}

/// Mount flags a tmpfs may carry besides `size` and `mode`.
const TMPFS_FLAGS: &[&str] = &[
    "ro",
    "rw",
    "noexec",
    "exec",
    "nosuid",
    "suid",
    "nodev",
    "dev",
    "noatime",
    "atime",
    "relatime",
    "strictatime",
    "nodiratime",
];

/// `/run` or `/run:size=64m,mode=1777,noexec`, as `docker run --tmpfs` reads it.
fn parse_tmpfs(text: &str) -> Result<Tmpfs, String> {
    let (target, opts) = text.split_once(':').unwrap_or((text, ""));
    if !target.starts_with('/') {
        return Err(format!("tmpfs target `{target}` must be an absolute path"));
    }
    let mut t = Tmpfs {
        target: PathBuf::from(target),
        size: None,
        mode: None,
        flags: Vec::new(),
    };
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        match opt.split_once('=') {
            Some(("size", s)) => t.size = Some(value::parse_size(s)?),
            Some(("mode", m)) => t.mode = Some(parse_mode(m)?),
            _ if TMPFS_FLAGS.contains(&opt) => t.flags.push(opt.to_owned()),
            _ => {
                return Err(format!(
                    "`{opt}` is not a tmpfs option: use `size=`, `mode=` or one of {}",
                    quote_list(TMPFS_FLAGS)
                ));
            }
        }
    }
    Ok(t)
}

fn devices(ctx: &mut Ctx, node: &Node) -> Vec<DeviceMapping> {
    ctx.list(node)
        .unwrap_or_default()
        .iter()
        .filter_map(|n| ctx.parse(n, value::parse_device))
        .collect()
}

/// The name after `service:`, checked as a unit name.
fn service_ref(ctx: &mut Ctx, node: &Node, name: &str) -> Option<UnitRef> {
    match UnitName::new(name) {
        Ok(n) if n.as_str() == ctx.unit_stem() => {
            ctx.error(node.pos, "a unit cannot join its own namespace");
            None
        }
        Ok(name) => Some(UnitRef {
            name,
            pos: node.pos,
        }),
        Err(msg) => {
            ctx.error(node.pos, msg);
            None
        }
    }
}

/// `private`, `host` or `service:NAME` (and `none` for the network: a private one).
fn share(ctx: &mut Ctx, node: &Node, key: &str, is_network: bool) -> Option<Share> {
    let text = ctx.string(node)?;
    match text.as_str() {
        "private" => Some(Share::Private),
        "none" if is_network => Some(Share::Private),
        "host" => Some(Share::Host),
        _ => {
            if let Some(name) = text.strip_prefix("service:") {
                return service_ref(ctx, node, name).map(Share::Service);
            }
            let words: &[&str] = if is_network {
                &["none", "private", "host", "service:NAME"]
            } else {
                &["private", "host", "service:NAME"]
            };
            let hint = match text.strip_prefix("container:") {
                Some(name) => {
                    format!("; svcd has services, not containers: write `service:{name}`")
                }
                None => did_you_mean(&text, words.iter().copied()),
            };
            ctx.error(
                node.pos,
                format!(
                    "`{text}` is not a valid {key}: use {}{hint}",
                    quote_list(words)
                ),
            );
            None
        }
    }
}

fn ipc(ctx: &mut Ctx, node: &Node) -> Option<Ipc> {
    if let Value::Str(s) = &node.value {
        if s == "shareable" {
            return Some(Ipc::Shareable);
        }
    }
    match &node.value {
        Value::Str(s)
            if !s.starts_with("service:") && !["private", "host"].contains(&s.as_str()) =>
        {
            let words = ["private", "shareable", "host", "service:NAME"];
            let hint = match s.strip_prefix("container:") {
                Some(name) => {
                    format!("; svcd has services, not containers: write `service:{name}`")
                }
                None => did_you_mean(s, words),
            };
            ctx.error(
                node.pos,
                format!("`{s}` is not a valid ipc: use {}{hint}", quote_list(&words)),
            );
            None
        }
        _ => share(ctx, node, "ipc", false).map(|s| match s {
            Share::Private => Ipc::Private,
            Share::Host => Ipc::Host,
            Share::Service(r) => Ipc::Service(r),
        }),
    }
}

/// A hostname or domain name: dot-separated labels of letters, digits and `-`, at most 64 bytes
/// (the kernel's limit for both).
fn hostname(text: &str, what: &str) -> Result<String, String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if text.len() <= 64 && text.split('.').all(label_ok) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "`{text}` is not a valid {what}: use letters, digits and `-` in dot-separated parts, at most 64 characters"
        ))
    }
}

fn user_namespace(ctx: &mut Ctx, node: &Node) -> Option<UserNamespace> {
    if let Value::Str(s) = &node.value {
        if s == "auto" {
            return Some(UserNamespace::Auto);
        }
        ctx.error(
            node.pos,
            format!("`{s}` is not a user_namespace: use `auto`, or `uid_map` and `gid_map` lists"),
        );
        return None;
    }
    let mut uid_map = None;
    let mut gid_map = None;
    for (k, v) in ctx.fields(node, "user_namespace", &["uid_map", "gid_map"]) {
        let map = id_map(ctx, v, k);
        if k == "uid_map" {
            uid_map = map
        } else {
            gid_map = map
        }
    }
    let Some(uid_map) = uid_map else {
        if !ctx.diags.iter().any(|d| d.severity == Severity::Error) {
            ctx.error(
                node.pos,
                "user_namespace needs a `uid_map` (or the value `auto`)",
            );
        }
        return None;
    };
    // Without a gid_map, groups are mapped like users.
    let gid_map = gid_map.unwrap_or_else(|| uid_map.clone());
    Some(UserNamespace::Map { uid_map, gid_map })
}

fn id_map(ctx: &mut Ctx, node: &Node, what: &str) -> Option<Vec<IdMap>> {
    // The kernel accepts at most 340 lines in a uid_map or gid_map.
    const MAX_LINES: usize = 340;
    let items = ctx.list(node)?;
    if items.is_empty() || items.len() > MAX_LINES {
        ctx.error(node.pos, format!("{what} needs 1 to {MAX_LINES} entries"));
        return None;
    }
    let mut maps = Vec::new();
    for item in items {
        let mut fields = [None; 3];
        for (k, v) in ctx.fields(item, what, &["container_id", "host_id", "size"]) {
            let i = ["container_id", "host_id", "size"]
                .iter()
                .position(|n| *n == k)
                .unwrap_or(0);
            let min = u32::from(k == "size");
            fields[i] = ctx.int(v, min, u32::MAX - 1);
        }
        let [Some(container_id), Some(host_id), Some(size)] = fields else {
            if matches!(item.value, Value::Map(_)) {
                ctx.error(
                    item.pos,
                    format!("each {what} entry needs `container_id`, `host_id` and `size`"),
                );
            }
            return None;
        };
        for (start, name) in [(container_id, "container_id"), (host_id, "host_id")] {
            if u64::from(start) + u64::from(size) > u64::from(u32::MAX) {
                ctx.error(
                    item.pos,
                    format!("{name} {start} + size {size} goes past the largest id"),
                );
                return None;
            }
        }
        maps.push(IdMap {
            container_id,
            host_id,
            size,
        });
    }
    for (key, get) in [
        (
            "container",
            (|m: &IdMap| m.container_id) as fn(&IdMap) -> u32,
        ),
        ("host", |m: &IdMap| m.host_id),
    ] {
        let mut sorted = maps.clone();
        sorted.sort_by_key(get);
        if let Some(pair) = sorted
            .windows(2)
            .find(|w| get(&w[0]) + w[0].size > get(&w[1]))
        {
            ctx.error(
                node.pos,
                format!("{what} entries overlap in {key} ids at {}", get(&pair[1])),
            );
            return None;
        }
    }
    Some(maps)
}

enum SysctlNs {
    Ipc,
    Net,
}

/// The namespace a sysctl belongs to; `None` for those that are the whole host's.
fn sysctl_namespace(name: &str) -> Option<SysctlNs> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&name) || name.starts_with("fs.mqueue.") {
        Some(SysctlNs::Ipc)
    } else if name.starts_with("net.") {
        Some(SysctlNs::Net)
    } else {
        None
    }
}

fn sysctls(ctx: &mut Ctx, node: &Node) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (pos, name, value) in key_value_entries(ctx, node, "sysctls") {
        let Some(value) = value else {
            ctx.error(pos, format!("sysctl `{name}` has no value"));
            continue;
        };
        if matches!(name.as_str(), "kernel.hostname" | "kernel.domainname") {
            let key = name.trim_start_matches("kernel.");
            ctx.error(
                pos,
                format!("set `{key}` with the `{key}` key, not as a sysctl"),
            );
        } else if sysctl_namespace(&name).is_none() {
            ctx.error(
                pos,
                format!(
                    "sysctl `{name}` is not namespaced: setting it would change the whole host"
                ),
            );
        } else if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            ctx.error(pos, format!("`{name}` is not a valid sysctl name"));
        } else {
            out.push((name, value));
        }
    }
    out
}

fn cpus(ctx: &mut Ctx, node: &Node) -> Option<f64> {
    let n = match &node.value {
        Value::Float(f) => *f,
        Value::Int(i) => *i as f64,
        Value::Str(s) => match s.trim().parse::<f64>() {
            Ok(f) => f,
            Err(_) => return ctx.expected(node, "a number of CPUs, like `1.5`"),
        },
        _ => return ctx.expected(node, "a number of CPUs, like `1.5`"),
    };
    // 0.01 CPU is the finest quota Docker allows (1 ms in a 100 ms period).
    if !(0.01..=8192.0).contains(&n) {
        ctx.error(
            node.pos,
            format!("cpus {n} is out of range (0.01 to the number of CPUs)"),
        );
        return None;
    }
    Some(n)
}

/// A time in microseconds, written as a number of µs (as Compose) or as a duration.
fn microseconds(
    ctx: &mut Ctx,
    node: &Node,
    what: &str,
    min_us: u64,
    max_us: u64,
) -> Option<Duration> {
    let d = match node.value {
        Value::Int(i) if i >= 0 => Duration::from_micros(i as u64),
        Value::Int(_) => return ctx.expected(node, &format!("a positive {what}")),
        _ => ctx.parse(node, value::parse_duration)?,
    };
    let us = d.as_micros();
    if us < u128::from(min_us) || us > u128::from(max_us) {
        ctx.error(
            node.pos,
            format!("{what} must be between {min_us}us and {max_us}us"),
        );
        return None;
    }
    Some(d)
}

fn cpu_quota(ctx: &mut Ctx, node: &Node) -> Option<Limit> {
    match node.value {
        Value::Int(-1) => Some(Limit::Unlimited),
        _ => microseconds(ctx, node, "cpu_quota", 1_000, u64::MAX / 1_000)
            .map(|d| Limit::Max(d.as_micros() as u64)),
    }
}

fn blkio(ctx: &mut Ctx, node: &Node) -> Option<u16> {
    const LATER: &[&str] = &[
        "weight_device",
        "device_read_bps",
        "device_write_bps",
        "device_read_iops",
        "device_write_iops",
    ];
    let mut weight = None;
    for (k, pos, v) in ctx.map_entries(node, "blkio_config") {
        match k {
            "weight" => weight = ctx.int(v, 10u16, 1000),
            _ if LATER.contains(&k) => ctx.error(
                pos,
                format!("`blkio_config.{k}` is not supported by svcd: only `weight` is"),
            ),
            _ => {
                let hint = did_you_mean(k, ["weight"]);
                ctx.error(pos, format!("unknown key `{k}` in blkio_config{hint}"));
            }
        }
    }
    weight
}

fn capabilities(ctx: &mut Ctx, node: &Node) -> CapabilityList {
    let mut list = CapabilityList::default();
    for item in ctx.list(node).unwrap_or_default() {
        match ctx.parse(item, value::parse_capability) {
            Some(CapabilityName::All) => list.all = true,
            Some(CapabilityName::One(c)) if !list.caps.contains(&c) => list.caps.push(c),
            _ => {}
        }
    }
    list
}

fn security_opt(ctx: &mut Ctx, node: &Node, s: &mut Security) {
    const OPTIONS: [&str; 4] = ["no-new-privileges", "seccomp", "apparmor", "label"];
    let mut seen: Vec<&str> = Vec::new();
    for item in ctx.list(node).unwrap_or_default() {
        let Some(text) = ctx.string(item) else {
            continue;
        };
        // Docker accepts both `key=value` and the older `key:value`.
        let (key, value) = match text.find(['=', ':']) {
            Some(i) => (&text[..i], Some(&text[i + 1..])),
            None => (text.as_str(), None),
        };
        let Some(&key) = OPTIONS.iter().find(|o| **o == key) else {
            let hint = did_you_mean(key, OPTIONS);
            ctx.error(item.pos, format!("`{text}` is not a security option{hint}"));
            continue;
        };
        if key != "label" && seen.contains(&key) {
            ctx.error(item.pos, format!("`{key}` is given twice"));
            continue;
        }
        seen.push(key);
        match (key, value) {
            ("no-new-privileges", None | Some("true")) => s.no_new_privileges = true,
            ("no-new-privileges", Some("false")) => s.no_new_privileges = false,
            ("seccomp", Some("unconfined")) => s.seccomp = Seccomp::Unconfined,
            ("seccomp", Some(path)) if !path.is_empty() => {
                let path_node = Node {
                    pos: item.pos,
                    value: Value::Str(path.to_owned()),
                };
                if let Some(p) = ctx.existing_file(&path_node, "seccomp profile") {
                    s.seccomp = Seccomp::Profile(p);
                }
            }
            ("apparmor", Some(profile)) if !profile.is_empty() => {
                s.apparmor = Some(profile.to_owned())
            }
            ("label", Some(label)) => {
                let l = s.selinux.get_or_insert_with(SelinuxLabel::default);
                let (part, v) = label.split_once(':').unwrap_or((label, ""));
                let slot = match part {
                    "disable" if v.is_empty() => {
                        l.disable = true;
                        continue;
                    }
                    "user" => &mut l.user,
                    "role" => &mut l.role,
                    "type" => &mut l.kind,
                    "level" => &mut l.level,
                    _ => {
                        ctx.error(item.pos, format!("`{text}` is not a label option: use `label=user:U`, `role:R`, `type:T`, `level:L` or `disable`"));
                        continue;
                    }
                };
                if v.is_empty() {
                    ctx.error(item.pos, format!("`{text}` gives no value for `{part}`"));
                } else {
                    *slot = Some(v.to_owned());
                }
            }
            _ => {
                let usage = match key {
                    "no-new-privileges" => {
                        "`no-new-privileges`, `no-new-privileges:true` or `no-new-privileges:false`"
                    }
                    "seccomp" => "`seccomp=PATH` or `seccomp=unconfined`",
                    "apparmor" => "`apparmor=PROFILE`",
                    _ => {
                        "`label=user:U`, `label=role:R`, `label=type:T`, `label=level:L` or `label=disable`"
                    }
                };
                ctx.error(item.pos, format!("`{text}` is not valid: write {usage}"));
            }
        }
    }
    if let Some(l) = &s.selinux {
        if l.disable
            && (l.user.is_some() || l.role.is_some() || l.kind.is_some() || l.level.is_some())
        {
            ctx.error(
                node.pos,
                "`label=disable` conflicts with the other `label=` options",
            );
        }
    }
}

/// `no`, `always`, `on-failure[:N]`, `unless-stopped`.
fn parse_restart(text: &str) -> Result<Restart, String> {
    match text {
        "no" => Ok(Restart::No),
        "always" => Ok(Restart::Always),
        "unless-stopped" => Ok(Restart::UnlessStopped),
        "on-failure" => Ok(Restart::OnFailure(None)),
        _ => {
            if let Some(n) = text.strip_prefix("on-failure:") {
                return n
                    .parse()
                    .map(|n| Restart::OnFailure(Some(n)))
                    .map_err(|_| format!("`{n}` in `{text}` is not a number of retries"));
            }
            let words = [
                "no",
                "always",
                "on-failure",
                "on-failure:N",
                "unless-stopped",
            ];
            Err(format!(
                "`{text}` is not a restart policy: use {}{}",
                quote_list(&words),
                did_you_mean(text, words)
            ))
        }
    }
}

fn backoff(ctx: &mut Ctx, node: &Node) -> Option<Backoff> {
    let mut b = Backoff::default();
    for (k, v) in ctx.fields(node, "restart_backoff", &["initial", "max", "reset_after"]) {
        let slot = match k {
            "initial" => &mut b.initial,
            "max" => &mut b.max,
            _ => &mut b.reset_after,
        };
        set(slot, ctx.duration(v));
    }
    if b.initial > b.max {
        ctx.error(node.pos, "restart_backoff: `initial` must not exceed `max`");
        return None;
    }
    Some(b)
}

fn start_limit(ctx: &mut Ctx, node: &Node) -> Option<StartLimit> {
    let mut l = StartLimit::default();
    for (k, v) in ctx.fields(node, "start_limit", &["burst", "interval"]) {
        if k == "burst" {
            set(&mut l.burst, ctx.int(v, 1u32, 10_000));
        } else {
            set(&mut l.interval, ctx.duration(v));
        }
    }
    Some(l)
}

fn log_config(ctx: &mut Ctx, node: &Node) -> Option<LogConfig> {
    let mut l = LogConfig::default();
    for (k, v) in ctx.fields(node, "log", &["max_size", "max_files"]) {
        if k == "max_size" {
            set(&mut l.max_size, ctx.size(v));
        } else {
            set(&mut l.max_files, ctx.int(v, 1u32, 1000));
        }
    }
    Some(l)
}

fn depends_on(ctx: &mut Ctx, node: &Node) -> Vec<Dependency> {
    let mut deps = Vec::new();
    let mut add =
        |ctx: &mut Ctx, name: &str, pos: Pos, condition, restart, required| match UnitName::new(
            name,
        ) {
            Ok(n) if n.as_str() == ctx.unit_stem() => {
                ctx.error(pos, "a unit cannot depend on itself")
            }
            Ok(n) => deps.push(Dependency {
                unit: UnitRef { name: n, pos },
                condition,
                restart,
                required,
            }),
            Err(msg) => ctx.error(pos, msg),
        };
    match &node.value {
        Value::Seq(items) => {
            for item in items {
                if let Some(name) = ctx.string(item) {
                    add(ctx, &name, item.pos, Condition::ServiceStarted, false, true);
                }
            }
        }
        Value::Map(_) => {
            for (name, pos, v) in ctx.map_entries(node, "depends_on") {
                let mut condition = Condition::ServiceStarted;
                let (mut restart, mut required) = (false, true);
                for (k, n) in ctx.fields(
                    v,
                    &format!("depends_on.{name}"),
                    &["condition", "restart", "required"],
                ) {
                    match k {
                        "condition" => {
                            let choices = [
                                ("service_started", Condition::ServiceStarted),
                                ("service_healthy", Condition::ServiceHealthy),
                                (
                                    "service_completed_successfully",
                                    Condition::ServiceCompletedSuccessfully,
                                ),
                            ];
                            set(&mut condition, ctx.choice(n, &choices));
                        }
                        "restart" => set(&mut restart, ctx.bool(n)),
                        _ => set(&mut required, ctx.bool(n)),
                    }
                }
                add(ctx, name, pos, condition, restart, required);
            }
        }
        _ => {
            ctx.expected::<()>(node, "a list of unit names or a mapping");
        }
    }
    deps
}

fn healthcheck(ctx: &mut Ctx, node: &Node) -> Option<Healthcheck> {
    let keys = [
        "test",
        "interval",
        "timeout",
        "retries",
        "start_period",
        "start_interval",
        "disable",
    ];
    let mut h = Healthcheck {
        test: Vec::new(),
        interval: Duration::from_secs(30),
        timeout: Duration::from_secs(30),
        retries: 3,
        start_period: Duration::ZERO,
        start_interval: Duration::from_secs(5),
    };
    let mut disabled = false;
    for (k, v) in ctx.fields(node, "healthcheck", &keys) {
        match k {
            "test" => match health_test(ctx, v) {
                Some(None) => disabled = true,
                Some(Some(test)) => h.test = test,
                None => {}
            },
            "interval" => set(&mut h.interval, ctx.duration(v)),
            "timeout" => set(&mut h.timeout, ctx.duration(v)),
            "start_period" => set(&mut h.start_period, ctx.duration(v)),
            "start_interval" => set(&mut h.start_interval, ctx.duration(v)),
            "retries" => set(&mut h.retries, ctx.int(v, 1u32, 1000)),
            _ => disabled |= ctx.bool(v).unwrap_or(false),
        }
    }
    if disabled { None } else { Some(h) }
}

/// The probe command: `[CMD, args…]`, `[CMD-SHELL, "cmd"]`, a string (run by the shell), or
/// `[NONE]` (`Some(None)`: the check is disabled).
fn health_test(ctx: &mut Ctx, node: &Node) -> Option<Option<Vec<String>>> {
    let shell = |cmd: String| vec!["/bin/sh".to_owned(), "-c".to_owned(), cmd];
    match &node.value {
        Value::Str(s) => Some(Some(shell(s.clone()))),
        Value::Seq(items) => {
            let words: Vec<String> = items.iter().filter_map(|i| ctx.scalar_text(i)).collect();
            match words.split_first() {
                Some((first, rest)) if first == "CMD" && !rest.is_empty() => {
                    Some(Some(rest.to_vec()))
                }
                Some((first, [cmd])) if first == "CMD-SHELL" => Some(Some(shell(cmd.clone()))),
                Some((first, [])) if first == "NONE" => Some(None),
                _ => {
                    ctx.error(node.pos, "healthcheck test must be `[CMD, program, args…]`, `[CMD-SHELL, \"command\"]`, `[NONE]` or a command string");
                    None
                }
            }
        }
        _ => ctx.expected(node, "a list or a command string"),
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
