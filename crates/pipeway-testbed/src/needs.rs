//! What a test needs from the machine, with one rule for every pipeway
//! test: in CI (`CI=true`, as `.ci/run` sets it) a missing need fails the
//! test, because `scripts/test.sh` installs everything; elsewhere the test
//! is skipped with a `skipped: …` line on stderr.
//!
//! ```
//! use pipeway_testbed::needs;
//!
//! # fn a_test() {
//! if !needs::python(&["json"]) {
//!     return; // skipped here; in CI the call above has failed the test
//! }
//! // ... the test, which runs a Python peer ...
//! # }
//! ```

use std::process::Command;

/// Whether this run is CI, where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Says that `what` is missing: fails the test in CI, and otherwise prints
/// the line that says why the test is skipped.
///
/// # Panics
///
/// In CI, always.
pub fn missing(what: &str) {
    assert!(!in_ci(), "{what} (scripts/test.sh installs it)");
    eprintln!("skipped: {what}");
}

/// Whether `python3` imports every module of `modules` (none: whether
/// there is a `python3`); if not, [`missing`] says so.
pub fn python(modules: &[&str]) -> bool {
    let script = if modules.is_empty() {
        "pass".to_owned()
    } else {
        format!("import {}", modules.join(", "))
    };
    let found = Command::new("python3")
        .args(["-c", &script])
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        missing(&format!(
            "python3 with {} is not installed",
            modules.join(", ")
        ));
    }
    found
}

/// Whether this process runs as root; if not, [`missing`] says that the
/// test needs it, and `why`.
#[cfg(unix)]
pub fn root(why: &str) -> bool {
    let root = is_root();
    if !root {
        missing(&format!("this test needs root: {why}"));
    }
    root
}

/// Whether this process runs as root (effective uid 0).
#[cfg(unix)]
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A Samba host for a test ([`crate::SambaHost::start_with`]): `None` when Samba
/// is not installed (which [`missing`] reports). Any other failure to start
/// one is a failure of the test.
///
/// # Panics
///
/// When the host does not start for another reason, and in CI when Samba
/// is missing.
#[cfg(target_os = "linux")]
pub fn samba(options: &crate::SambaOptions) -> Option<crate::SambaHost> {
    match crate::SambaHost::start_with(options) {
        Ok(host) => Some(host),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            missing(&format!("Samba is not installed: {err}"));
            None
        }
        Err(err) => panic!("the Samba test host did not start: {err}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn python_without_modules_is_just_python3() {
        // The test machines have python3 (scripts/test.sh installs it).
        assert!(super::python(&[]));
    }

    #[test]
    fn a_module_that_does_not_exist_is_missing() {
        if super::in_ci() {
            // `missing` fails the test in CI: that is its rule.
            let outcome = std::panic::catch_unwind(|| super::python(&["no_such_module_pipeway"]));
            assert!(outcome.is_err());
        } else {
            assert!(!super::python(&["no_such_module_pipeway"]));
        }
    }
}
