//! What `accord service install` writes: a systemd user unit on Linux, a launchd agent on
//! macOS. Both are built here from plain values, without touching the system, so that their
//! text is checked by unit tests on any platform.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// Why a service definition cannot be written for a path.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum DefinitionError {
    /// The path is not valid UTF-8, which neither a unit file nor a plist can hold exactly.
    #[error("the path {0:?} is not valid UTF-8; a service file cannot name it")]
    NotUtf8(PathBuf),
    /// The path holds a control character (a newline would end the unit file's line).
    #[error("the path {0:?} holds a control character; a service file cannot name it")]
    ControlCharacter(PathBuf),
    /// The path is relative: the service manager starts the daemon from another directory.
    #[error("the path {0:?} is not absolute")]
    Relative(PathBuf),
}

/// The per-user service managers Accord can install itself into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServiceManager {
    /// systemd's per-user instance (`systemctl --user`), on Linux.
    SystemdUser,
    /// launchd's per-user agents (`~/Library/LaunchAgents`), on macOS.
    Launchd,
}

impl ServiceManager {
    /// The manager of the platform this binary was built for.
    pub(crate) fn of_this_platform() -> ServiceManager {
        if cfg!(target_os = "macos") {
            ServiceManager::Launchd
        } else {
            ServiceManager::SystemdUser
        }
    }
}

/// Everything a service definition says: which binary runs which data dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceSpec {
    /// The `accord` binary, absolute.
    pub(crate) binary: PathBuf,
    /// The node's data dir, absolute.
    pub(crate) data_dir: PathBuf,
    /// The key file's passphrase file, absolute, when the key file is encrypted.
    pub(crate) passphrase_file: Option<PathBuf>,
    /// Whether `data_dir` is the platform's default data dir.
    pub(crate) default_data_dir: bool,
}

impl ServiceSpec {
    /// The service's name: `accord` for the default data dir, and `accord-` with 8 hex digits
    /// of the data dir's SHA-256 otherwise, so that several nodes of one user (a second
    /// identity, a test) each get their own service and never replace each other's.
    pub(crate) fn name(&self) -> String {
        if self.default_data_dir {
            return "accord".to_owned();
        }
        let digest = Sha256::digest(self.data_dir.as_os_str().as_encoded_bytes());
        let mut name = "accord-".to_owned();
        for byte in &digest[..4] {
            // Writing to a String cannot fail.
            let _ = write!(name, "{byte:02x}");
        }
        name
    }

    /// The daemon's command line: binary, `--data-dir`, `daemon` and the passphrase file.
    fn arguments(&self) -> Result<Vec<&str>, DefinitionError> {
        let mut args = vec![
            checked(&self.binary)?,
            "--data-dir",
            checked(&self.data_dir)?,
            "daemon",
        ];
        if let Some(file) = &self.passphrase_file {
            args.push("--passphrase-file");
            args.push(checked(file)?);
        }
        Ok(args)
    }
}

/// `path` as text a service file can hold: absolute, UTF-8, no control character.
fn checked(path: &Path) -> Result<&str, DefinitionError> {
    if !path.is_absolute() {
        return Err(DefinitionError::Relative(path.to_owned()));
    }
    let text = path
        .to_str()
        .ok_or_else(|| DefinitionError::NotUtf8(path.to_owned()))?;
    if text.chars().any(char::is_control) {
        return Err(DefinitionError::ControlCharacter(path.to_owned()));
    }
    Ok(text)
}

/// The systemd user unit for `spec`.
///
/// `Restart=on-failure` brings the daemon back after a crash but not after `accord stop`
/// (which exits 0), `WantedBy=default.target` starts it when the user's session starts, and
/// SIGTERM (systemd's default stop signal) is what the daemon shuts down cleanly on.
pub(crate) fn systemd_unit(spec: &ServiceSpec) -> Result<String, DefinitionError> {
    let exec = spec
        .arguments()?
        .iter()
        .map(|arg| systemd_quoted(arg))
        .collect::<Vec<_>>()
        .join(" ");
    let data_dir = systemd_quoted(checked(&spec.data_dir)?);
    Ok(format!(
        "# Written by `accord service install`; remove it with `accord service uninstall`.\n\
         [Unit]\n\
         Description=Accord node (peer-to-peer messenger) for {data_dir}\n\
         Documentation=man:accord(1)\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=exec\n\
         ExecStart={exec}\n\
         Restart=on-failure\n\
         RestartSec=5s\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n"
    ))
}

/// `arg` as one word of a systemd command line: double-quoted, with the characters systemd
/// would otherwise expand (`\`, `"`, `%` specifiers and `$` variables) escaped.
fn systemd_quoted(arg: &str) -> String {
    let mut quoted = String::with_capacity(arg.len() + 2);
    quoted.push('"');
    for c in arg.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '%' => quoted.push_str("%%"),
            '$' => quoted.push_str("$$"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// The launchd agent's label for `spec`.
pub(crate) fn launchd_label(spec: &ServiceSpec) -> String {
    format!("org.accord.{}", spec.name())
}

/// The launchd agent (a property list) for `spec`.
///
/// `RunAtLoad` starts it at login, and `KeepAlive` with `SuccessfulExit = false` restarts it
/// after a crash but not after `accord stop`; the daemon's log goes to `daemon.log` in the
/// data dir, where launchd has no journal to hold it.
pub(crate) fn launchd_plist(spec: &ServiceSpec) -> Result<String, DefinitionError> {
    let mut program = String::new();
    for arg in spec.arguments()? {
        let _ = writeln!(program, "    <string>{}</string>", xml_escaped(arg));
    }
    let log = xml_escaped(checked(&spec.data_dir.join("daemon.log"))?);
    let label = xml_escaped(&launchd_label(spec));
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
         \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <!-- Written by `accord service install`; remove it with `accord service uninstall`. -->\n\
         <plist version=\"1.0\">\n\
         <dict>\n\
         \x20 <key>Label</key>\n\
         \x20 <string>{label}</string>\n\
         \x20 <key>ProgramArguments</key>\n\
         \x20 <array>\n\
         {program}\
         \x20 </array>\n\
         \x20 <key>RunAtLoad</key>\n\
         \x20 <true/>\n\
         \x20 <key>KeepAlive</key>\n\
         \x20 <dict>\n\
         \x20   <key>SuccessfulExit</key>\n\
         \x20   <false/>\n\
         \x20 </dict>\n\
         \x20 <key>ProcessType</key>\n\
         \x20 <string>Background</string>\n\
         \x20 <key>StandardErrorPath</key>\n\
         \x20 <string>{log}</string>\n\
         \x20 <key>StandardOutPath</key>\n\
         \x20 <string>{log}</string>\n\
         </dict>\n\
         </plist>\n"
    ))
}

/// `text` with XML's five special characters escaped.
fn xml_escaped(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(data_dir: &str) -> ServiceSpec {
        ServiceSpec {
            binary: PathBuf::from("/usr/local/bin/accord"),
            data_dir: PathBuf::from(data_dir),
            passphrase_file: None,
            default_data_dir: false,
        }
    }

    #[test]
    fn the_unit_runs_the_daemon_of_its_data_dir_and_restarts_it_only_after_a_failure() {
        let unit = systemd_unit(&spec("/home/ada/.local/share/accord"))
            .unwrap_or_else(|err| panic!("{err}"));
        assert!(unit.contains(
            "ExecStart=\"/usr/local/bin/accord\" \"--data-dir\" \
             \"/home/ada/.local/share/accord\" \"daemon\"\n"
        ));
        assert!(unit.contains("Restart=on-failure\n"));
        assert!(unit.contains("WantedBy=default.target\n"));
        assert!(!unit.contains("User="), "a user unit never names a user");
    }

    #[test]
    fn paths_with_spaces_quotes_and_specifiers_stay_one_literal_word() {
        let unit = systemd_unit(&spec("/home/ada/my \"100%\" $node\\dir"))
            .unwrap_or_else(|err| panic!("{err}"));
        assert!(
            unit.contains(r#""/home/ada/my \"100%%\" $$node\\dir" "daemon""#),
            "{unit}"
        );
    }

    #[test]
    fn the_passphrase_file_is_passed_when_the_key_file_is_encrypted() {
        let mut spec = spec("/d");
        spec.passphrase_file = Some(PathBuf::from("/secrets/pass"));
        let unit = systemd_unit(&spec).unwrap_or_else(|err| panic!("{err}"));
        assert!(unit.contains("\"daemon\" \"--passphrase-file\" \"/secrets/pass\"\n"));
        let plist = launchd_plist(&spec).unwrap_or_else(|err| panic!("{err}"));
        assert!(
            plist
                .contains("<string>--passphrase-file</string>\n    <string>/secrets/pass</string>")
        );
    }

    #[test]
    fn relative_and_multi_line_paths_are_refused() {
        assert_eq!(
            systemd_unit(&spec("data")),
            Err(DefinitionError::Relative(PathBuf::from("data")))
        );
        assert_eq!(
            systemd_unit(&spec("/a\nExecStartPre=/bin/evil")),
            Err(DefinitionError::ControlCharacter(PathBuf::from(
                "/a\nExecStartPre=/bin/evil"
            )))
        );
    }

    #[test]
    fn each_data_dir_gets_its_own_name_and_the_default_one_is_plain() {
        let a = spec("/tmp/a");
        let b = spec("/tmp/b");
        assert_ne!(a.name(), b.name());
        assert_eq!(a.name(), spec("/tmp/a").name());
        assert!(a.name().starts_with("accord-") && a.name().len() == "accord-".len() + 8);
        let default = ServiceSpec {
            default_data_dir: true,
            ..a
        };
        assert_eq!(default.name(), "accord");
        assert_eq!(launchd_label(&default), "org.accord.accord");
    }

    #[test]
    fn the_agent_escapes_xml_and_restarts_only_after_a_failure() {
        let plist = launchd_plist(&spec("/Users/ada/<a&b>")).unwrap_or_else(|err| panic!("{err}"));
        assert!(plist.contains("<string>/Users/ada/&lt;a&amp;b&gt;</string>"));
        assert!(plist.contains("<key>SuccessfulExit</key>\n    <false/>"));
        assert!(plist.contains("<key>RunAtLoad</key>\n  <true/>"));
    }
}
