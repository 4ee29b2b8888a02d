//! Compile errors of the attributes, checked against the messages users see (trybuild).
//!
//! The `.stderr` files are rustc 1.95's output; other compilers word some errors differently,
//! so on any other version this test says so and passes without running.

use std::process::Command;

/// The compiler the `.stderr` files were written with.
const EXPECTED_RUSTC: &str = "rustc 1.95.";

#[test]
fn ui() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = Command::new(&rustc)
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    if !version.starts_with(EXPECTED_RUSTC) {
        eprintln!(
            "skipping the UI tests: their .stderr files are for {EXPECTED_RUSTC}x, this is `{}`",
            version.trim()
        );
        return;
    }
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
