//! The command line of the built binary: --version, --help and a usage error.
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_echo-rust"))
        .args(args)
        .output()
        .expect("run echo-rust")
}

#[test]
fn version_prints_the_package_version() {
    let output = run(&["--version"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("echo-rust {}\n", env!("CARGO_PKG_VERSION"))
    );
    assert!(output.stderr.is_empty());
}

#[test]
fn help_describes_every_option() {
    let output = run(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for word in [
        "usage: echo-rust ",
        "--listen HOST:PORT",
        "--state-dir DIR",
        "--public-key-file FILE",
        "--max-connections N",
        "--version",
        "Exit status",
    ] {
        assert!(text.contains(word), "--help lacks {word:?}:\n{text}");
    }
    assert!(output.stderr.is_empty());
}

#[test]
fn a_usage_error_exits_2_with_the_usage() {
    let output = run(&["--listen"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage: echo-rust "));
}
