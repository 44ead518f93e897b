//! Shell commands written in documentation, run as a reader would type them.

use std::{path::Path, process::Stdio, time::Duration};

use tokio::process::Command;

use crate::{binary, cli::CliRun};

/// Longest one command may take (a watched deploy included).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// One command of a walk-through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCommand {
    /// As written, continuation lines (`\` at the end of a line) included: what the shell runs.
    pub text: String,
    /// Its words: the lines joined, the comment after `#` left out, split on whitespace.
    pub words: Vec<String>,
}

/// The commands of every ```` ```sh ```` block of `markdown` whose fence line directly follows a
/// line starting with `marker` (an HTML comment, which renders as nothing), in order. Blank and
/// comment lines are skipped; a line ending with `\` continues on the next.
///
/// # Panics
/// When a marker is not followed by a ```` ```sh ```` fence, or a block is never closed.
pub fn marked_commands(markdown: &str, marker: &str) -> Vec<ShellCommand> {
    let mut commands = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        if !line.starts_with(marker) {
            continue;
        }
        assert_eq!(
            lines.next().map(str::trim_end),
            Some("```sh"),
            "{marker} must be followed by a ```sh block"
        );
        let mut pending: Option<String> = None;
        loop {
            let line = lines.next().expect("an unclosed ```sh block");
            if line.trim_end() == "```" {
                assert!(pending.is_none(), "a block ends with a continuation line");
                break;
            }
            let text = match pending.take() {
                Some(start) => format!("{start}\n{line}"),
                None if line.trim().is_empty() || line.trim_start().starts_with('#') => continue,
                None => line.to_owned(),
            };
            if line.trim_end().ends_with('\\') {
                pending = Some(text);
            } else {
                commands.push(ShellCommand::new(text));
            }
        }
    }
    commands
}

impl ShellCommand {
    fn new(text: String) -> Self {
        let joined = text
            .lines()
            .map(|line| line.trim_end().trim_end_matches('\\'))
            .collect::<Vec<_>>()
            .join(" ");
        // A comment starts at a `#` that begins a word; none of the commands quote one.
        let words = joined
            .split_whitespace()
            .take_while(|word| !word.starts_with('#'))
            .map(str::to_owned)
            .collect();
        Self { text, words }
    }

    /// The words after `prefix` when the command starts with it (`["eyrie", "deployment"]`).
    pub fn after(&self, prefix: &[&str]) -> Option<&[String]> {
        let starts = self.words.len() >= prefix.len()
            && self.words.iter().zip(prefix).all(|(word, p)| word == p);
        starts.then(|| &self.words[prefix.len()..])
    }
}

/// Runs `script` with `sh -c` in `dir`, with the `eyrie` being tested first on the `PATH`, no
/// `EYRIE_*` variables but `env`, and output in a pipe (plain lines, no spinner).
///
/// # Panics
/// When the shell cannot start or the script runs longer than two minutes.
pub async fn run_shell(script: &str, dir: &Path, env: &[(&str, &str)]) -> CliRun {
    let eyrie = binary("eyrie");
    let bin_dir = eyrie.parent().expect("the binary's folder");
    let path = std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("PATH entries");
    let mut command = Command::new("sh");
    command
        .args(["-c", script])
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("EYRIE_")) {
        command.env_remove(key);
    }
    command.env("PATH", path).env("NO_COLOR", "1");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::time::timeout(COMMAND_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{script:?} ran longer than {COMMAND_TIMEOUT:?}"))
        .expect("sh starts");
    CliRun {
        args: vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()],
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_blocks_give_their_commands_continuations_joined_comments_dropped() {
        let markdown = "\
intro
```sh
eyrie not-marked
```
<!-- run -->
```sh
# a comment line
eyrie a b \\
  --c d   # why

eyrie e   # f
```
text
<!-- run -->
```sh
find . -name '*.yaml'
```
";
        let commands = marked_commands(markdown, "<!-- run");
        let words: Vec<Vec<String>> = commands.iter().map(|c| c.words.clone()).collect();
        assert_eq!(
            words,
            [
                vec!["eyrie", "a", "b", "--c", "d"],
                vec!["eyrie", "e"],
                vec!["find", ".", "-name", "'*.yaml'"],
            ]
            .map(|w| w.into_iter().map(str::to_owned).collect::<Vec<_>>())
        );
        assert_eq!(commands[0].text, "eyrie a b \\\n  --c d   # why");
        assert_eq!(
            commands[0].after(&["eyrie", "a"]).unwrap(),
            ["b", "--c", "d"]
        );
        assert!(commands[1].after(&["eyrie", "a"]).is_none());
    }
}
