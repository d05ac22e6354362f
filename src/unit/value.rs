//! Parsers for the value syntaxes of unit files, as Compose and `docker run` spell them.
//!
//! Each parser takes the text of one value and returns the typed value or a message that says
//! what is wrong and what would be right; the caller adds the file position.

use std::time::Duration;

/// Bytes from a size such as `256m`, `1g`, `1.5GB`, `512k` or `1048576` (units are powers of
/// 1024, as Docker reads them; case does not matter).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let shift = match unit.as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        "p" | "pb" | "pib" => 50,
        _ => {
            return Err(format!(
                "`{text}` is not a size: use a number of bytes with an optional unit b, k, m, g, t \
                 or p (for example `256m`)"
            ));
        }
    };
    let bad = || format!("`{text}` is not a size: expected a number such as `256m` or `1.5g`");
    if number.is_empty() || number.matches('.').count() > 1 {
        return Err(bad());
    }
    let too_big = || format!("`{text}` is too large a size");
    if let Some((whole, frac)) = number.split_once('.') {
        // Fractions are computed exactly in integer arithmetic to avoid float rounding.
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_big())?
        };
        if frac.is_empty() || frac.len() > 9 {
            return Err(bad());
        }
        let frac_value: u128 = frac.parse().map_err(|_| bad())?;
        let scale = 10u128.pow(frac.len() as u32);
        let bytes = (whole * scale + frac_value) << shift;
        u64::try_from(bytes / scale).map_err(|_| too_big())
    } else {
        let n: u64 = number.parse().map_err(|_| too_big())?;
        n.checked_mul(1u64 << shift).ok_or_else(too_big)
    }
}

/// A duration in Go's syntax as Compose uses it: `10s`, `1m30s`, `250ms`, `1h`, `500us`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = |why: &str| {
        format!("`{text}` is not a duration: {why} (write it like `10s`, `1m30s` or `250ms`)")
    };
    if t.is_empty() {
        return Err(bad("it is empty"));
    }
    if t.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad("it has no unit"));
    }
    let mut total_ns: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(digits_end);
        if number.is_empty() {
            return Err(bad("a unit must follow a number"));
        }
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let unit_ns: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(bad(&format!("`{number}` has no unit"))),
            other => return Err(bad(&format!("`{other}` is not a unit of time"))),
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if frac.len() > 9 || (whole.is_empty() && frac.is_empty()) || frac.contains('.') {
            return Err(bad("malformed number"));
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad("number too large"))?
        };
        let frac_ns = if frac.is_empty() {
            0
        } else {
            let f: u128 = frac.parse().map_err(|_| bad("malformed number"))?;
            f * unit_ns / 10u128.pow(frac.len() as u32)
        };
        total_ns = whole
            .checked_mul(unit_ns)
            .and_then(|w| w.checked_add(frac_ns))
            .and_then(|n| total_ns.checked_add(n))
            .ok_or_else(|| bad("too long"))?;
        rest = tail;
    }
    let secs = u64::try_from(total_ns / 1_000_000_000).map_err(|_| bad("too long"))?;
    Ok(Duration::new(secs, (total_ns % 1_000_000_000) as u32))
}

/// The CPUs of a cpuset list such as `0-3,5`, sorted and without repeats.
pub fn parse_cpuset(text: &str) -> Result<Vec<u32>, String> {
    // The kernel's largest configurable NR_CPUS.
    const MAX_CPU: u32 = 8191;
    let mut cpus = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let number = |s: &str| -> Result<u32, String> {
            let n: u32 = s.trim().parse().map_err(|_| {
                format!(
                    "`{text}` is not a CPU list: `{s}` is not a CPU number (write it like `0-3,5`)"
                )
            })?;
            if n > MAX_CPU {
                return Err(format!(
                    "CPU {n} is beyond the largest possible CPU {MAX_CPU}"
                ));
            }
            Ok(n)
        };
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(part)?;
                (n, n)
            }
        };
        if lo > hi {
            return Err(format!("`{part}` is a descending range; write `{hi}-{lo}`"));
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// A Linux capability, by its kernel number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Capability(pub u8);

/// Capability names in kernel order (`include/uapi/linux/capability.h`): index = number.
pub const CAPABILITY_NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

impl Capability {
    /// The name without the `CAP_` prefix, as Docker prints it (`NET_RAW`).
    pub fn name(self) -> &'static str {
        CAPABILITY_NAMES[usize::from(self.0)]
    }

    /// Every capability this table knows.
    pub fn all() -> impl Iterator<Item = Capability> {
        (0..CAPABILITY_NAMES.len() as u8).map(Capability)
    }
}

/// A `cap_add`/`cap_drop` entry: one capability, or `ALL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapabilityName {
    All,
    One(Capability),
}

/// A capability as written in `cap_add`/`cap_drop`: with or without `CAP_`, in any case, or `ALL`.
pub fn parse_capability(text: &str) -> Result<CapabilityName, String> {
    let upper = text.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if bare == "ALL" {
        return Ok(CapabilityName::All);
    }
    match CAPABILITY_NAMES.iter().position(|n| *n == bare) {
        Some(i) => Ok(CapabilityName::One(Capability(i as u8))),
        None => Err(format!(
            "`{text}` is not a capability{}",
            did_you_mean(bare, CAPABILITY_NAMES.iter().copied())
        )),
    }
}

/// Signal names and numbers on Linux (x86, arm and most other architectures).
const SIGNALS: [(&str, i32); 31] = [
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// Real-time signals run from SIGRTMIN (34 under glibc) to SIGRTMAX (64).
const SIGRTMIN: i32 = 34;
const SIGRTMAX: i32 = 64;

/// A signal number from `SIGTERM`, `TERM`, `sigterm`, `15`, `RTMIN+3`.
pub fn parse_signal(text: &str) -> Result<i32, String> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i32>() {
        return if (1..=SIGRTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(format!(
                "signal {n} does not exist (signals are 1 to {SIGRTMAX})"
            ))
        };
    }
    let upper = t.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = SIGNALS.iter().find(|(name, _)| *name == bare) {
        return Ok(n);
    }
    let realtime = |base: i32, offset: Option<&str>, sign: i32| -> Option<i32> {
        let off: i32 = offset.map_or(Some(0), |o| o.parse().ok())?;
        let n = base + sign * off;
        (SIGRTMIN..=SIGRTMAX).contains(&n).then_some(n)
    };
    let rt = if let Some(rest) = bare.strip_prefix("RTMIN") {
        realtime(
            SIGRTMIN,
            rest.strip_prefix('+').or((rest.is_empty()).then_some("0")),
            1,
        )
    } else if let Some(rest) = bare.strip_prefix("RTMAX") {
        realtime(
            SIGRTMAX,
            rest.strip_prefix('-').or((rest.is_empty()).then_some("0")),
            -1,
        )
    } else {
        None
    };
    rt.ok_or_else(|| {
        format!(
            "`{text}` is not a signal{}",
            did_you_mean(bare, SIGNALS.iter().map(|(n, _)| *n))
                .replace("did you mean `", "did you mean `SIG")
        )
    })
}

/// The name of a signal number, as `SIGTERM`.
pub fn signal_name(n: i32) -> String {
    match SIGNALS.iter().find(|(_, num)| *num == n) {
        Some((name, _)) => format!("SIG{name}"),
        None if n >= SIGRTMIN => format!("SIGRTMIN+{}", n - SIGRTMIN),
        None => n.to_string(),
    }
}

/// The user and group that a `user` value names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSpec {
    pub user: IdOrName,
    pub group: Option<IdOrName>,
}

/// A user or group given by number or by name (resolved in the unit's root when it starts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdOrName {
    Id(u32),
    Name(String),
}

/// `user` in every form Compose accepts: `name`, `uid`, `name:group`, `uid:gid`.
pub fn parse_user(text: &str) -> Result<UserSpec, String> {
    let (user, group) = match text.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (text, None),
    };
    Ok(UserSpec {
        user: parse_id_or_name(user, "user")?,
        group: group.map(|g| parse_id_or_name(g, "group")).transpose()?,
    })
}

/// One user or group, by number or by name.
pub fn parse_id_or_name(text: &str, what: &str) -> Result<IdOrName, String> {
    if text.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if text.chars().all(|c| c.is_ascii_digit()) {
        return match text.parse::<u32>() {
            // (uid_t)-1 means "unchanged" to setresuid(2), never a real id.
            Ok(n) if n != u32::MAX => Ok(IdOrName::Id(n)),
            _ => Err(format!(
                "{what} id {text} is out of range (0 to 4294967294)"
            )),
        };
    }
    // The portable name set of POSIX and shadow-utils: letters, digits, `.`, `_`, `-`,
    // not starting with `-`, optionally ending in `$` (machine accounts).
    let body = text.strip_suffix('$').unwrap_or(text);
    let valid = !body.is_empty()
        && text.len() <= 32
        && !body.starts_with('-')
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(IdOrName::Name(text.to_owned()))
    } else {
        Err(format!(
            "`{text}` is not a valid {what} name (letters, digits, `.`, `_`, `-`; at most 32 \
             characters)"
        ))
    }
}

/// The kind of a device node, as in a device cgroup rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceType {
    All,
    Char,
    Block,
}

/// Read, write and mknod access to a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceAccess {
    pub read: bool,
    pub write: bool,
    pub mknod: bool,
}

impl DeviceAccess {
    pub const ALL: DeviceAccess = DeviceAccess {
        read: true,
        write: true,
        mknod: true,
    };
}

fn parse_access(text: &str) -> Result<DeviceAccess, String> {
    let mut access = DeviceAccess {
        read: false,
        write: false,
        mknod: false,
    };
    for c in text.chars() {
        let flag = match c {
            'r' => &mut access.read,
            'w' => &mut access.write,
            'm' => &mut access.mknod,
            _ => {
                return Err(format!(
                    "`{text}` is not a device access: use letters of `rwm`"
                ));
            }
        };
        if *flag {
            return Err(format!("`{text}` names `{c}` twice"));
        }
        *flag = true;
    }
    if text.is_empty() {
        return Err("the device access is empty: use letters of `rwm`".into());
    }
    Ok(access)
}

/// A `devices` entry: a host device node made available inside the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceMapping {
    pub host: String,
    pub container: String,
    pub access: DeviceAccess,
}

/// `HOST[:CONTAINER[:rwm]]`, or `HOST:rwm`, as `docker run --device` reads it.
pub fn parse_device(text: &str) -> Result<DeviceMapping, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let is_access = |s: &str| !s.is_empty() && s.chars().all(|c| "rwm".contains(c));
    let (host, container, access) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, a] if is_access(a) => (*h, *h, *a),
        [h, c] => (*h, *c, "rwm"),
        [h, c, a] => (*h, *c, *a),
        _ => {
            return Err(format!(
                "`{text}` is not a device: write `HOST[:CONTAINER[:rwm]]`, like `/dev/ttyUSB0:/dev/ttyS0:rw`"
            ));
        }
    };
    for path in [host, container] {
        if !path.starts_with('/') {
            return Err(format!(
                "device path `{path}` must be absolute, like `/dev/ttyUSB0`"
            ));
        }
    }
    Ok(DeviceMapping {
        host: host.to_owned(),
        container: container.to_owned(),
        access: parse_access(access)?,
    })
}

/// A `device_cgroup_rules` entry, such as `c 1:3 mr` or `a *:* rwm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRule {
    pub kind: DeviceType,
    /// `None` stands for `*`, any number.
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: DeviceAccess,
}

pub fn parse_device_rule(text: &str) -> Result<DeviceRule, String> {
    let usage = || {
        format!(
            "`{text}` is not a device cgroup rule: write `TYPE MAJOR:MINOR ACCESS`, like `c 1:3 mr`"
        )
    };
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [kind, numbers, access] = fields.as_slice() else {
        return Err(usage());
    };
    let kind = match *kind {
        "a" => DeviceType::All,
        "c" => DeviceType::Char,
        "b" => DeviceType::Block,
        _ => {
            return Err(format!(
                "`{kind}` is not a device type: use `a`, `b` or `c`"
            ));
        }
    };
    let (major, minor) = numbers.split_once(':').ok_or_else(usage)?;
    let number = |s: &str| -> Result<Option<u32>, String> {
        if s == "*" {
            Ok(None)
        } else {
            s.parse()
                .map(Some)
                .map_err(|_| format!("`{s}` is not a device number or `*`"))
        }
    };
    Ok(DeviceRule {
        kind,
        major: number(major)?,
        minor: number(minor)?,
        access: parse_access(access)?,
    })
}

/// Split a command string into words the way a POSIX shell would, without running one:
/// single quotes, double quotes with `\` escapes, and backslashes outside quotes.
pub fn split_command(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a single quote is not closed".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("a double quote is not closed".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("a double quote is not closed".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => word.push(c),
                    None => return Err("the command ends with a lone backslash".into()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Edit distance between two strings, counting a swap of neighbours as one edit (optimal
/// string alignment), for "did you mean" hints: `SIGTREM` is one edit from `SIGTERM`.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // Three rows: two back (for swaps), one back, and the current one.
    let mut older = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j - 1] + cost).min(prev[j] + 1).min(cur[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(older[j - 2] + 1);
            }
        }
        older = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

/// `; did you mean `X`?` for the closest candidate when it is close enough, else nothing.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let lower = word.to_ascii_lowercase();
    let best = candidates
        .into_iter()
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), c))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, c)) if d <= (word.chars().count() / 3).max(2) && d < word.chars().count() => {
            format!("; did you mean `{c}`?")
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256m"), Ok(256 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("1GB"), Ok(1 << 30));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("100b"), Ok(100));
        assert!(parse_size("12x").unwrap_err().contains("not a size"));
        assert!(parse_size("m").is_err());
        assert!(parse_size("1.2.3m").is_err());
        assert!(
            parse_size("99999999999p")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500us"), Ok(Duration::from_micros(500)));
        assert!(parse_duration("10").unwrap_err().contains("has no unit"));
        assert!(
            parse_duration("10x")
                .unwrap_err()
                .contains("`x` is not a unit")
        );
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn cpusets() {
        assert_eq!(parse_cpuset("0-3,5"), Ok(vec![0, 1, 2, 3, 5]));
        assert_eq!(parse_cpuset("2,1,2"), Ok(vec![1, 2]));
        assert!(parse_cpuset("3-1").unwrap_err().contains("descending"));
        assert!(parse_cpuset("a").is_err());
        assert!(parse_cpuset("0,,1").is_err());
        assert!(parse_cpuset("99999").is_err());
    }

    #[test]
    fn capabilities() {
        let net_raw = CapabilityName::One(Capability(13));
        assert_eq!(parse_capability("NET_RAW"), Ok(net_raw));
        assert_eq!(parse_capability("cap_net_raw"), Ok(net_raw));
        assert_eq!(parse_capability("Cap_Net_Raw"), Ok(net_raw));
        assert_eq!(parse_capability("all"), Ok(CapabilityName::All));
        assert_eq!(Capability(21).name(), "SYS_ADMIN");
        let err = parse_capability("NET_RAWW").unwrap_err();
        assert!(err.contains("did you mean `NET_RAW`?"), "{err}");
        assert_eq!(Capability::all().count(), 41);
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("SIGTERM"), Ok(15));
        assert_eq!(parse_signal("term"), Ok(15));
        assert_eq!(parse_signal("9"), Ok(9));
        assert_eq!(parse_signal("SIGRTMIN+2"), Ok(36));
        assert_eq!(parse_signal("RTMAX"), Ok(64));
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("SIGRTMIN+40").is_err());
        assert!(
            parse_signal("SIGTREM")
                .unwrap_err()
                .contains("did you mean `SIGTERM`?")
        );
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(36), "SIGRTMIN+2");
    }

    #[test]
    fn users() {
        let name = |s: &str| IdOrName::Name(s.into());
        assert_eq!(parse_user("nobody").unwrap().user, name("nobody"));
        assert_eq!(
            parse_user("1000:1000"),
            Ok(UserSpec {
                user: IdOrName::Id(1000),
                group: Some(IdOrName::Id(1000))
            })
        );
        assert_eq!(
            parse_user("web:www-data").unwrap().group,
            Some(name("www-data"))
        );
        assert!(parse_user("4294967295").is_err());
        assert!(parse_user("a b").is_err());
        assert!(parse_user("web:").is_err());
    }

    #[test]
    fn devices() {
        let d = parse_device("/dev/ttyUSB0").unwrap();
        assert_eq!(
            (d.host.as_str(), d.container.as_str()),
            ("/dev/ttyUSB0", "/dev/ttyUSB0")
        );
        assert_eq!(d.access, DeviceAccess::ALL);
        let d = parse_device("/dev/ttyUSB0:/dev/ttyS0:rw").unwrap();
        assert_eq!(d.container, "/dev/ttyS0");
        assert!(d.access.read && d.access.write && !d.access.mknod);
        assert!(parse_device("/dev/fuse:r").unwrap().access.read);
        assert!(parse_device("ttyUSB0").is_err());
        assert!(parse_device("/dev/a:/dev/b:rx").is_err());
        assert!(parse_device("/dev/a:/dev/b:rr").is_err());
        let r = parse_device_rule("c 1:3 mr").unwrap();
        assert_eq!(
            (r.kind, r.major, r.minor),
            (DeviceType::Char, Some(1), Some(3))
        );
        assert_eq!(parse_device_rule("a *:* rwm").unwrap().major, None);
        assert!(parse_device_rule("x 1:3 r").is_err());
        assert!(parse_device_rule("c 1-3 r").is_err());
    }

    #[test]
    fn command_splitting() {
        assert_eq!(split_command("sleep 10").unwrap(), ["sleep", "10"]);
        assert_eq!(
            split_command(r#"sh -c 'echo "hi there"' a\ b "x\"y""#).unwrap(),
            ["sh", "-c", "echo \"hi there\"", "a b", "x\"y"]
        );
        assert_eq!(split_command("''").unwrap(), [""]);
        assert!(split_command("echo 'open").is_err());
        assert!(split_command("echo \"open").is_err());
    }

    #[test]
    fn hints() {
        assert_eq!(
            did_you_mean("mem_limt", ["mem_limit", "cpus"]),
            "; did you mean `mem_limit`?"
        );
        assert_eq!(did_you_mean("zzzzzz", ["mem_limit", "cpus"]), "");
    }
}
