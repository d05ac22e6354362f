//! What the service sees of the file system: root, volumes, tmpfs and devices.

use super::ctx::{Ctx, quote_list};
use super::set;
use crate::unit::file::{Node, Value};
use crate::unit::value;
use crate::unit::*;
use std::path::PathBuf;

pub(super) fn rootfs(ctx: &mut Ctx, node: &Node) -> Option<PathBuf> {
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

pub(super) fn propagation(text: &str) -> Option<Propagation> {
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

pub(super) fn volumes(ctx: &mut Ctx, node: &Node, fs: &mut Filesystem) {
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
pub(super) fn short_volume(ctx: &mut Ctx, node: &Node) -> Option<Volume> {
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
        source: ctx.resolve(source),
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

pub(super) fn long_volume(ctx: &mut Ctx, node: &Node, fs: &mut Filesystem) {
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

pub(super) fn tmpfs_mode(ctx: &mut Ctx, node: &Node) -> Option<u32> {
    // YAML reads `1777` as a decimal number; the digits are octal all the same.
    let text = match node.value {
        Value::Int(i) => i.to_string(),
        _ => ctx.string(node)?,
    };
    parse_mode(&text).map_err(|m| ctx.error(node.pos, m)).ok()
}

pub(super) fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => Err(format!(
            "`{text}` is not a file mode: use octal digits, like `1777`"
        )),
    }
}

/// Mount flags a tmpfs may carry besides `size` and `mode`.
pub(super) const TMPFS_FLAGS: &[&str] = &[
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
pub(super) fn parse_tmpfs(text: &str) -> Result<Tmpfs, String> {
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

pub(super) fn devices(ctx: &mut Ctx, node: &Node) -> Vec<DeviceMapping> {
    ctx.list(node)
        .unwrap_or_default()
        .iter()
        .filter_map(|n| ctx.parse(n, value::parse_device))
        .collect()
}
