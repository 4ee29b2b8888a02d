//! The width the text report is laid out for, and the wrapping that keeps its prose within it.
//!
//! The width is `--width N` if given, else the `COLUMNS` environment variable if it is a
//! number, else the width of stdout's terminal if stdout is one (asked of `stty size`, with
//! the terminal as its input: std has no call for it and the workspace forbids the `unsafe` an
//! `ioctl` needs), else [`DEFAULT`]: a run piped to a file or in CI is laid out for 120
//! columns. Widths below [`MIN`] count as [`MIN`].

/// The width when stdout is not a terminal and neither `--width` nor `COLUMNS` says otherwise.
pub const DEFAULT: usize = 120;

/// The narrowest layout the report tries to fit; below it the tables overflow.
pub const MIN: usize = 40;

/// From this width on the per-phase table may take its wide layout, one column per figure.
pub const WIDE: usize = 120;

/// The width to lay the report out for: `flag` (`--width`), else `COLUMNS`, else the
/// terminal's, else [`DEFAULT`].
pub fn detect(flag: Option<usize>) -> usize {
    resolve(
        flag,
        std::env::var("COLUMNS").ok().as_deref(),
        terminal_width,
    )
}

/// [`detect`] with its sources passed in: `terminal` is asked only when the others say nothing.
fn resolve(
    flag: Option<usize>,
    columns: Option<&str>,
    terminal: impl FnOnce() -> Option<usize>,
) -> usize {
    flag.or_else(|| columns.and_then(|c| c.trim().parse().ok()))
        .filter(|&w| w > 0)
        .or_else(terminal)
        .unwrap_or(DEFAULT)
        .max(MIN)
}

/// The columns of stdout's terminal, or `None` if stdout is not a terminal or `stty` cannot
/// tell.
#[cfg(unix)]
fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    use std::os::fd::AsFd;
    use std::process::{Command, Stdio};

    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    // `stty` reports on the terminal that is its standard input: here, our stdout.
    let terminal = stdout.as_fd().try_clone_to_owned().ok()?;
    let output = Command::new("stty")
        .arg("size")
        .stdin(Stdio::from(terminal))
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    // "rows columns"
    let size = String::from_utf8(output.stdout).ok()?;
    size.split_whitespace()
        .nth(1)?
        .parse()
        .ok()
        .filter(|&w| w > 0)
}

#[cfg(not(unix))]
fn terminal_width() -> Option<usize> {
    None
}

/// The width of `s` on a terminal: its characters (the report's box drawing takes one column
/// each, and it has no wide characters).
pub fn columns(s: &str) -> usize {
    s.chars().count()
}

/// The widest line of `s`.
pub fn widest(s: &str) -> usize {
    s.lines().map(columns).max().unwrap_or(0)
}

/// `text` wrapped at spaces into lines of at most `width` columns, without a final newline:
/// the first line starts with `first`, the others with `rest`. A word longer than a whole line
/// is cut.
pub fn wrap(text: &str, width: usize, first: &str, rest: &str) -> String {
    let mut out = String::from(first);
    let mut line = columns(first);
    // Whether the current line holds a word yet (it may hold only its indent).
    let mut started = false;
    for word in text.split_whitespace() {
        let mut word = word;
        loop {
            let len = columns(word);
            let gap = usize::from(started);
            if line + gap + len <= width {
                if started {
                    out.push(' ');
                }
                out.push_str(word);
                line += gap + len;
                started = true;
                break;
            }
            let indent = columns(rest);
            if started || line > indent {
                // A new line, then try again.
                out.push('\n');
                out.push_str(rest);
                line = indent;
                started = false;
                continue;
            }
            // Too long for a line of its own: as much as fits here, the rest on the next.
            let room = width.saturating_sub(line).max(1);
            let cut = word.char_indices().nth(room).map_or(word.len(), |(i, _)| i);
            out.push_str(&word[..cut]);
            line += room;
            started = true;
            word = &word[cut..];
            if word.is_empty() {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_then_columns_then_the_terminal_then_120() {
        let never = || -> Option<usize> { panic!("the terminal is not asked") };
        assert_eq!(resolve(Some(90), Some("70"), never), 90);
        assert_eq!(resolve(None, Some(" 70 "), never), 70);
        assert_eq!(resolve(None, Some("wide"), || Some(100)), 100);
        assert_eq!(resolve(None, Some("0"), || Some(100)), 100);
        assert_eq!(resolve(None, None, || Some(100)), 100);
        assert_eq!(resolve(None, None, || None), DEFAULT);
        assert_eq!(resolve(None, Some("10"), || None), MIN);
    }

    #[test]
    fn wrapped_lines_fit_and_keep_every_word() {
        let text = "the same GET under #[fallback(last_good)] #[rate_limiter(PER_TENANT, key = \
                    tenant)] #[timeout(1s)] and_a_word_far_longer_than_any_line_can_hold_at_all";
        for width in [20, 33, 80] {
            let wrapped = wrap(text, width, "  protected: ", "    ");
            assert!(widest(&wrapped) <= width, "{width}:\n{wrapped}");
            assert!(wrapped.starts_with("  protected: the"));
            let words: String = wrapped
                .lines()
                .enumerate()
                .map(|(i, l)| if i == 0 { &l[13..] } else { &l[4..] })
                .collect::<Vec<_>>()
                .join(" ");
            let joined = words.replace(' ', "");
            assert_eq!(joined, text.replace(' ', ""), "{width}:\n{wrapped}");
        }
        assert_eq!(wrap("a b c", 80, "", ""), "a b c");
        assert_eq!(wrap("aaa bbb", 5, "", "  "), "aaa\n  bbb");
    }
}
