//! The operations commands' tables (`sluice status`, `sluice checkpoints list`): aligned columns without
//! borders, drawn by comfy-table so wide cells and terminal widths are handled in one place.

use comfy_table::{ContentArrangement, Table, presets};

/// Renders `rows` under `header`, each column as wide as its widest cell, ending with a newline.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec())
        .add_rows(rows.iter().cloned());
    let mut out: String = table
        .lines()
        .map(|line| line.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_align_under_the_header() {
        let t = super::render(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2, "{t}");
        // The second column starts at the same place on every line.
        assert_eq!(lines[0].find("BB"), lines[1].find('y'), "{t}");
        assert!(lines[1].contains("xxx"), "{t}");
    }
}
