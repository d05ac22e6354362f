//! Any bytes as a unit file: the parser must return diagnostics or a unit, never panic, and
//! every diagnostic must point inside the file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use svcd::unit::validate::parse_unit;

fuzz_target!(|data: &[u8]| {
    let parsed = parse_unit(Path::new("fuzz.yaml"), data);
    // YAML ends a line at `\n`, `\r\n` or a lone `\r`.
    let breaks = data
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && data.get(i + 1) != Some(&b'\n')))
        .count();
    let lines = breaks as u32 + 1;
    for d in &parsed.diagnostics {
        assert!(d.pos.line >= 1 && d.pos.line <= lines, "{d} is outside the file");
        assert!(d.pos.column >= 1, "{d} has column 0");
    }
    if let Some(unit) = parsed.valid() {
        assert!(!unit.process.argv().is_empty());
    }
});
