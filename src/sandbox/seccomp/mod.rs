//! Seccomp: Docker's JSON profiles, svcd's default profile, and their compilation to BPF.

pub mod compile;
pub mod default;
pub mod profile;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use super::caps::CapMask;
use super::stage::{Stage, StartError};
use crate::unit::{Seccomp, Unit};
use profile::{Profile, Target};

/// Go's name of this machine's architecture, as profiles' `arches` filters spell it.
pub fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn kernel_version() -> (u32, u32) {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut parts = release.split(['.', '-']).map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The host and capabilities a profile is resolved for.
pub fn target(bounding: CapMask) -> Target {
    Target {
        caps: bounding
            .iter()
            .map(|c| format!("CAP_{}", c.name()))
            .collect(),
        arch: native_arch(),
        kernel: kernel_version(),
    }
}

/// Read a profile in Docker's JSON format.
pub fn read_profile(path: &Path) -> Result<Profile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_profile(path, &text)
}

fn parse_profile(path: &Path, text: &str) -> Result<Profile, String> {
    let profile: Profile =
        serde_json::from_str(text).map_err(|e| format!("{}: {e}", path.display()))?;
    profile
        .check()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(profile)
}

/// Compiled programs by profile text (`None` for the default) and bounding set. Compiling
/// takes libseccomp milliseconds; a unit's filter is the same on every start.
type Cache = HashMap<(Option<String>, u64), Vec<u8>>;

fn compiled(
    profile_text: Option<String>,
    bounding: CapMask,
    make: impl FnOnce() -> Result<Profile, String>,
) -> Result<Vec<u8>, String> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (profile_text, bounding.0);
    if let Some(bpf) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(bpf.clone());
    }
    let bpf = compile::to_bpf(&make()?.resolve(&target(bounding)))?;
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, bpf.clone());
    Ok(bpf)
}

/// The compiled filter for a unit, or none when it runs unconfined (`seccomp=unconfined`, or
/// privileged with the default profile, as Docker does).
pub fn program_for(unit: &Unit, bounding: CapMask) -> Result<Option<Vec<u8>>, StartError> {
    let fail = |e: String| StartError::other(Stage::Seccomp, e);
    let bpf = match &unit.security.seccomp {
        Seccomp::Unconfined => return Ok(None),
        Seccomp::Default if unit.security.privileged => return Ok(None),
        Seccomp::Default => compiled(None, bounding, || Ok(default::profile())),
        Seccomp::Profile(path) => {
            // Read on every start, so that an edited profile takes effect.
            let text = std::fs::read_to_string(path)
                .map_err(|e| fail(format!("{}: {e}", path.display())))?;
            compiled(Some(text.clone()), bounding, || parse_profile(path, &text))
        }
    };
    bpf.map(Some).map_err(fail)
}
