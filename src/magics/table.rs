//! The table every view is made of, rendered both ways (HTML for notebooks,
//! aligned text for consoles), with its status badges and the cells that
//! several views share (a file's row, a human size). `render.rs` and
//! `array_views.rs` both build on it.

use html_escape::encode_text;

use super::View;
use crate::crimpl::JobFile;

/// A table with a caption, rendered both ways.
pub fn table(caption: &str, headers: &[&str], rows: &[Vec<String>]) -> View {
    let mut html = format!(
        "<table class=\"crimpl\"><caption style=\"text-align:left\"><b>{}</b></caption><thead><tr>",
        encode_text(caption)
    );
    for header in headers {
        html.push_str(&format!(
            "<th style=\"text-align:left\">{}</th>",
            encode_text(header)
        ));
    }
    html.push_str("</tr></thead><tbody>");
    for row in rows {
        html.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let content = if headers.get(i) == Some(&"status") {
                status_badge(cell)
            } else {
                encode_text(cell).into_owned()
            };
            html.push_str(&format!("<td style=\"text-align:left\">{content}</td>"));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    View {
        html,
        text: text_table(caption, headers, rows),
    }
}

fn text_table(caption: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut text = format!("{caption}\n");
    text.push_str(&line(headers.iter().map(|h| h.to_string()).collect()));
    text.push('\n');
    for row in rows {
        text.push_str(&line(row.clone()));
        text.push('\n');
    }
    if rows.is_empty() {
        text.push_str("(none)\n");
    }
    text
}

/// How a status word is coloured: a JupyterLab theme variable and today's
/// colour as its fallback (outside JupyterLab).
fn status_colour(word: &str) -> (&'static str, &'static str) {
    match word {
        "complete" | "ok" => ("--jp-success-color0", "#2e7d32"),
        "failed" | "lost" | "timeout" | "out-of-memory" | "node-fail" => {
            ("--jp-error-color0", "#c62828")
        }
        "running" | "starting" => ("--jp-info-color0", "#1565c0"),
        "pending" | "requeued" | "interrupted" | "preempted" => ("--jp-warn-color0", "#ef6c00"),
        "canceled" => ("--jp-content-font-color2", "#6d4c41"),
        _ => ("--jp-content-font-color2", "#616161"),
    }
}

/// The state colours are mixed 70/30 with the theme's text colour, which
/// moves them away from the background in both light and dark themes (the
/// dark theme's plain `--jp-error-color0` is 3.8:1 on its background). The
/// first `color` is for renderers without `color-mix`.
fn status_badge(status: &str) -> String {
    let word = status.split_whitespace().next().unwrap_or_default();
    let (variable, fallback) = status_colour(word);
    let themed = if variable.starts_with("--jp-content") {
        format!("var({variable}, {fallback})")
    } else {
        format!(
            "color-mix(in srgb, var({variable}, {fallback}) 70%, var(--jp-content-font-color1, #000))"
        )
    };
    format!(
        "<span style=\"color:{fallback};color:{themed};font-weight:bold\">{}</span>",
        encode_text(status)
    )
}

/// One row of a files table: path (a directory with its `/`), size, role.
pub fn file_row(f: &JobFile) -> Vec<String> {
    vec![
        if f.is_dir {
            format!("{}/", f.path)
        } else {
            f.path.clone()
        },
        if f.is_dir {
            String::new()
        } else {
            human_size(f.size)
        },
        f.role.word().to_string(),
    ]
}

/// `1.5 MiB`-style sizes.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_and_text_aligned() {
        let view = table(
            "t",
            &["job", "status"],
            &[vec!["<b>x</b>".into(), "complete".into()]],
        );
        assert!(view.html.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(view.text.contains("<b>x</b>  complete"));
    }

    /// WCAG relative luminance of an sRGB colour.
    fn luminance([r, g, b]: [f64; 3]) -> f64 {
        let linear = |c: f64| {
            let c = c / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
    }

    fn contrast(a: [f64; 3], b: [f64; 3]) -> f64 {
        let (a, b) = (luminance(a), luminance(b));
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    fn mix(a: [f64; 3], b: [f64; 3], share_of_a: f64) -> [f64; 3] {
        [0, 1, 2].map(|i| a[i] * share_of_a + b[i] * (1.0 - share_of_a))
    }

    fn hex(colour: u32) -> [f64; 3] {
        [(colour >> 16) & 255, (colour >> 8) & 255, colour & 255].map(f64::from)
    }

    /// The values of the variables used, in JupyterLab 4's light and dark
    /// themes (Material Design palette; translucent text composited on the
    /// theme's background), and that background.
    fn theme(dark: bool, variable: &str) -> [f64; 3] {
        let value = match (variable, dark) {
            ("--jp-success-color0", false) => 0x1b5e20, // green-900
            ("--jp-success-color0", true) => 0x388e3c,  // green-700
            ("--jp-error-color0", false) => 0xb71c1c,   // red-900
            ("--jp-error-color0", true) => 0xd32f2f,    // red-700
            ("--jp-info-color0", false) => 0x006064,    // cyan-900
            ("--jp-info-color0", true) => 0x0097a7,     // cyan-700
            ("--jp-warn-color0", false) => 0xe65100,    // orange-900
            ("--jp-warn-color0", true) => 0xf57c00,     // orange-700
            ("--jp-content-font-color1", false) => 0x212121, // black at 0.87 on white
            ("--jp-content-font-color1", true) => 0xffffff,
            ("--jp-content-font-color2", false) => 0x757575, // black at 0.54 on white
            ("--jp-content-font-color2", true) => 0xb8b8b8,  // white at 0.7 on #111
            ("background", false) => 0xffffff,
            ("background", true) => 0x111111,
            (other, _) => panic!("no value for {other}"),
        };
        hex(value)
    }

    #[test]
    fn status_colours_are_readable_on_light_and_dark_themes() {
        for word in [
            "complete", "failed", "lost", "running", "starting", "pending", "canceled", "unknown",
        ] {
            let (variable, fallback) = status_colour(word);
            assert!(status_badge(word).contains(&format!("var({variable}, {fallback})")));
            for dark in [false, true] {
                let colour = if variable.starts_with("--jp-content") {
                    theme(dark, variable)
                } else {
                    mix(
                        theme(dark, variable),
                        theme(dark, "--jp-content-font-color1"),
                        0.7,
                    )
                };
                let ratio = contrast(colour, theme(dark, "background"));
                assert!(
                    ratio >= 4.5,
                    "{word} on the {} theme: {ratio:.2}:1",
                    if dark { "dark" } else { "light" }
                );
            }
            // Outside JupyterLab (no variables), where color-mix is known: on white.
            let today = hex(u32::from_str_radix(&fallback[1..], 16).unwrap());
            let plain = if variable.starts_with("--jp-content") {
                today
            } else {
                mix(today, hex(0), 0.7)
            };
            assert!(
                contrast(plain, hex(0xffffff)) >= 4.5,
                "{word} outside JupyterLab"
            );
        }
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(1 << 30), "1.0 GiB");
    }
}
