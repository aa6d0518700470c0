//! The table: one row per figure, with the baseline measured in the same run and the ratio.

use std::fmt::Write as _;

/// One line of the table.
pub(crate) struct Row {
    /// What is measured, with its unit.
    pub(crate) label: String,
    /// The figure.
    pub(crate) value: String,
    /// The baseline figure and what it is.
    pub(crate) baseline: String,
    /// Figure over baseline, with the baseline's name.
    pub(crate) ratio: String,
}

/// Asks per second: `18.2k`, `1.10M`.
pub(crate) fn rate(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else {
        format!("{:.1}k", value / 1e3)
    }
}

/// Nanoseconds shown as microseconds.
pub(crate) fn micros(nanos: f64) -> String {
    if nanos >= 100_000.0 {
        format!("{:.0}", nanos / 1e3)
    } else {
        format!("{:.1}", nanos / 1e3)
    }
}

/// `value / baseline`, e.g. `0.05x local`.
pub(crate) fn ratio(value: f64, baseline: f64, name: &str) -> String {
    let r = value / baseline;
    if r >= 100.0 {
        format!("{r:.0}x {name}")
    } else if r >= 10.0 {
        format!("{r:.1}x {name}")
    } else {
        format!("{r:.2}x {name}")
    }
}

/// A markdown table of `rows`, numbers right-aligned.
pub(crate) fn table(rows: &[Row]) -> String {
    let heads = ["figure", "measured", "baseline", "ratio"];
    let cells = |row: &Row| {
        [
            row.label.clone(),
            row.value.clone(),
            row.baseline.clone(),
            row.ratio.clone(),
        ]
    };
    let mut widths = heads.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(cells(row)) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    let _ = write!(out, "| {:w$} |", heads[0], w = widths[0]);
    for (head, w) in heads.iter().zip(widths).skip(1) {
        let _ = write!(out, " {head:>w$} |");
    }
    out.push('\n');
    let _ = write!(out, "|{}|", "-".repeat(widths[0] + 2));
    for w in widths.iter().skip(1) {
        let _ = write!(out, "{}:|", "-".repeat(w + 1));
    }
    out.push('\n');
    for row in rows {
        let cells = cells(row);
        let _ = write!(out, "| {:w$} |", cells[0], w = widths[0]);
        for (cell, w) in cells.iter().zip(widths).skip(1) {
            let _ = write!(out, " {cell:>w$} |");
        }
        out.push('\n');
    }
    out
}
