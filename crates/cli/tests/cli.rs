//! The CLI contract that does not need a daemon: usage errors, help, and the error for a
//! missing daemon.

use std::process::{Command, Output};

fn accord(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .env_remove("ACCORD_DATA_DIR")
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("cannot run accord: {err}"))
}

#[test]
fn usage_errors_exit_with_status_2() {
    assert_eq!(accord(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(accord(&["status", "--no-such-flag"]).status.code(), Some(2));
    assert_eq!(accord(&["lookup"]).status.code(), Some(2));
}

#[test]
fn help_lists_the_commands_and_exits_0() {
    let output = accord(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    for command in ["init", "daemon", "id", "status", "peers", "testnet"] {
        assert!(
            help.contains(command),
            "help does not mention {command}: {help}"
        );
    }
}

#[test]
fn the_data_dir_comes_from_the_environment_when_not_given() {
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("{err}"));
    let output = Command::new(env!("CARGO_BIN_EXE_accord"))
        .env("ACCORD_DATA_DIR", dir.path())
        .arg("status")
        .output()
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
}

#[test]
fn testnet_refuses_a_silly_node_count() {
    let output = accord(&["testnet", "--nodes", "0"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("error: --nodes"));
}

#[test]
fn completions_are_generated_for_bash_zsh_and_fish_only() {
    for (shell, marker) in [
        ("bash", "complete -F _accord"),
        ("zsh", "#compdef accord"),
        ("fish", "complete -c accord"),
    ] {
        let output = accord(&["completions", shell]);
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(
            script.contains(marker),
            "{shell}: no {marker:?} in {script}"
        );
        // Subcommands and global options are offered.
        for word in ["verify-attestation", "data-dir", "completions"] {
            assert!(script.contains(word), "{shell}: {word} missing");
        }
    }
    // The bash script is valid bash.
    let bash = accord(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("{err}"));
    let path = dir.path().join("accord.bash");
    std::fs::write(&path, &bash.stdout).unwrap_or_else(|err| panic!("{err}"));
    let check = Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .unwrap_or_else(|err| panic!("cannot run bash: {err}"));
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(
        accord(&["completions", "powershell"]).status.code(),
        Some(2)
    );
    assert_eq!(accord(&["completions"]).status.code(), Some(2));
}

#[test]
fn the_man_page_is_roff_naming_every_command() {
    let output = accord(&["man"]);
    assert_eq!(output.status.code(), Some(0));
    let page = String::from_utf8_lossy(&output.stdout);
    assert!(page.contains(".TH accord 1"), "{page}");
    assert!(page.contains(".SH NAME"), "{page}");
    assert!(page.contains(".SH SYNOPSIS"), "{page}");
    // roff escapes hyphens; every subcommand is listed.
    for command in ["verify\\-attestation", "history", "testnet", "completions"] {
        assert!(page.contains(command), "the man page lacks {command}");
    }
}
