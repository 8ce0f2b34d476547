//! Tables as text (the summary, aligned in columns) and as Markdown (`report.md`, `compare --format
//! md`). Words read from the left, figures line up on the right.

use std::io::{self, Write};

pub(crate) fn text_table(out: &mut dyn Write, head: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let widths: Vec<usize> = (0..head.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([head[i].len()]).max().unwrap_or(0))
        .collect();
    // Words read from the left; figures line up on the right.
    let numeric: Vec<bool> =
        (0..head.len()).map(|i| i > 0 && rows.iter().all(|r| is_figure(&r[i]))).collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if numeric[i] { format!("{c:>w$}", w = widths[i]) } else { format!("{c:<w$}", w = widths[i]) }
            })
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    writeln!(out, "{}", line(head.to_vec()))?;
    for r in rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// Whether a cell reads as a figure: a short number with an optional sign and unit (`12`,
/// `1.951ms`, `+3.0%`, `0.4s`, `12ms (34 samples)`), or stands where one would be (`-`, `n/a`,
/// `no data`, `not run`); a long one is a description. A column of them aligns on the right.
pub(crate) fn is_figure(cell: &str) -> bool {
    let c = cell.trim();
    if matches!(c, "" | "-" | "n/a" | "no data" | "not run") {
        return true;
    }
    if c.chars().count() > 24 {
        return false;
    }
    let c = c.strip_prefix(['+', '-']).unwrap_or(c);
    let digits = c.find(|ch: char| !(ch.is_ascii_digit() || ch == '.' || ch == ',')).unwrap_or(c.len());
    let (number, rest) = c.split_at(digits);
    let unit = rest.split(" (").next().unwrap_or("").trim();
    number.starts_with(|ch: char| ch.is_ascii_digit())
        && ["", "ms", "µs", "us", "s", "%", "x", "/s", "KiB", "MiB", "ms/s"].contains(&unit)
}

pub(crate) fn md_table(out: &mut dyn Write, head: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let esc = |s: &str| s.replace('|', "\\|");
    writeln!(out, "| {} |", head.iter().map(|h| esc(h)).collect::<Vec<_>>().join(" | "))?;
    writeln!(out, "|{}", "---|".repeat(head.len()))?;
    for r in rows {
        // Indented (step) names keep their place under their journey with an arrow.
        let cells: Vec<String> = r
            .iter()
            .map(|c| if c.starts_with("  ") { format!("↳ {}", esc(c.trim())) } else { esc(c) })
            .collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    Ok(())
}
