//! How a job's file looks in the notebook, by its type: an image as itself,
//! CSV/TSV and JSON lines as a table of their first rows, JSON pretty,
//! Markdown and HTML rendered, text as its last lines, anything else as its
//! size and the `fetch` that brings it. Every bundle has a `text/plain`
//! form for consoles.

use base64::Engine;
use html_escape::encode_text;
use serde_json::{Map, Value};

use crate::crimpl::Part;
use crate::magics::table::{human_size, table};

/// What a file is, for showing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A bitmap image, with its mime type.
    Image(&'static str),
    /// An SVG drawing.
    Svg,
    /// Delimited rows with a header (`,` or tab).
    Delimited(u8),
    /// One JSON document.
    Json,
    /// One JSON object per line.
    JsonLines,
    /// Markdown.
    Markdown,
    /// HTML.
    Html,
    /// Text (or what may be: shown when it reads as UTF-8).
    Text,
}

/// How much of a file to show.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Rows of a table.
    pub rows: usize,
    /// Last lines of a text.
    pub tail: usize,
}

/// The most bytes of a text read for its last lines.
const TEXT_TAIL_BYTES: u64 = 256 * 1024;

/// What `path` is, by its extension.
pub fn kind_of(path: &str) -> Kind {
    let extension = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "png" => Kind::Image("image/png"),
        "jpg" | "jpeg" => Kind::Image("image/jpeg"),
        "gif" => Kind::Image("image/gif"),
        "webp" => Kind::Image("image/webp"),
        "svg" => Kind::Svg,
        "csv" => Kind::Delimited(b','),
        "tsv" => Kind::Delimited(b'\t'),
        "json" => Kind::Json,
        "jsonl" | "ndjson" => Kind::JsonLines,
        "md" | "markdown" => Kind::Markdown,
        "html" | "htm" => Kind::Html,
        _ => Kind::Text,
    }
}

/// The part of a file of `kind` and `size` to read.
pub fn part_for(kind: Kind, size: u64) -> Part {
    match kind {
        Kind::Text => Part::Tail(TEXT_TAIL_BYTES),
        _ => Part::Head(size),
    }
}

/// A caption line above a file's preview.
pub fn caption(path: &str, size: u64, note: &str) -> Map<String, Value> {
    let text = format!("{path} ({}){note}", human_size(size));
    bundle(
        &[(
            "text/html",
            format!("<p><b>{}</b></p>", encode_text(&text)).into(),
        )],
        &text,
    )
}

/// The preview of file `path` of job `job` (`size` bytes, `bytes` the part read).
pub fn preview(
    job: &str,
    path: &str,
    size: u64,
    bytes: &[u8],
    limits: Limits,
) -> Map<String, Value> {
    let kind = kind_of(path);
    match kind {
        Kind::Image(mime) => bundle(
            &[(
                mime,
                base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .into(),
            )],
            &format!("[image {path}, {}]", human_size(size)),
        ),
        Kind::Svg => match std::str::from_utf8(bytes) {
            Ok(svg) => bundle(&[("image/svg+xml", svg.into())], &format!("[SVG {path}]")),
            Err(_) => unknown(job, path, size, "an SVG that is not UTF-8"),
        },
        Kind::Delimited(delimiter) => delimited(path, bytes, delimiter, limits.rows),
        Kind::Json => match serde_json::from_slice::<Value>(bytes) {
            Ok(value) => {
                let pretty = serde_json::to_string_pretty(&value).unwrap_or_default();
                bundle(&[("application/json", value)], &pretty)
            }
            Err(err) => unknown(job, path, size, &format!("not valid JSON ({err})")),
        },
        Kind::JsonLines => json_lines(path, bytes, limits.rows),
        Kind::Markdown | Kind::Html => match std::str::from_utf8(bytes) {
            Ok(text) => {
                let mime = if kind == Kind::Markdown {
                    "text/markdown"
                } else {
                    "text/html"
                };
                bundle(&[(mime, text.into())], text)
            }
            Err(_) => unknown(job, path, size, "not UTF-8 text"),
        },
        Kind::Text => match text_tail(bytes, limits.tail) {
            Some(tail) => bundle(
                &[(
                    "text/html",
                    format!("<pre>{}</pre>", encode_text(&tail)).into(),
                )],
                &tail,
            ),
            None => unknown(job, path, size, "binary"),
        },
    }
}

/// A gallery of images, `(caption, path, bytes)` each, `more` left out.
pub fn gallery(images: &[(String, String, Vec<u8>)], more: usize) -> Map<String, Value> {
    let mut html = String::from("<div style=\"display:flex;flex-wrap:wrap;gap:8px\">");
    let mut text = String::new();
    for (label, path, bytes) in images {
        let mime = match kind_of(path) {
            Kind::Image(mime) => mime,
            _ => "image/svg+xml",
        };
        html.push_str(&format!(
            "<figure style=\"margin:0\"><img style=\"max-width:240px\" src=\"data:{mime};base64,{}\"/><figcaption>{}</figcaption></figure>",
            base64::engine::general_purpose::STANDARD.encode(bytes),
            encode_text(label)
        ));
        text.push_str(&format!("[image {label}]\n"));
    }
    html.push_str("</div>");
    if more > 0 {
        html.push_str(&format!("<p>and {more} more</p>"));
        text.push_str(&format!("and {more} more\n"));
    }
    bundle(&[("text/html", html.into())], text.trim_end())
}

/// A table of the first `rows` rows of delimited files, `(task, bytes)`
/// each (a `task` column when there is more than one), with the counts.
pub fn merged_table(
    title: &str,
    files: &[(String, Vec<u8>)],
    delimiter: u8,
    rows: usize,
) -> Map<String, Value> {
    let mut header: Vec<String> = Vec::new();
    let mut shown: Vec<Vec<String>> = Vec::new();
    let mut total = 0;
    for (task, bytes) in files {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .from_reader(bytes.as_slice());
        if header.is_empty() {
            header = reader
                .headers()
                .map(|h| h.iter().map(str::to_string).collect())
                .unwrap_or_default();
        }
        for record in reader.records().filter_map(Result::ok) {
            total += 1;
            if shown.len() < rows {
                let mut row: Vec<String> = Vec::new();
                if files.len() > 1 {
                    row.push(task.clone());
                }
                row.extend(record.iter().map(str::to_string));
                shown.push(row);
            }
        }
    }
    let mut headers: Vec<&str> = Vec::new();
    if files.len() > 1 {
        headers.push("task");
    }
    headers.extend(header.iter().map(String::as_str));
    let columns = header.len();
    let caption = if total > shown.len() {
        format!(
            "{title}: {columns} columns, {total} rows, the first {} shown (--rows N)",
            shown.len()
        )
    } else {
        format!("{title}: {columns} columns, {total} rows")
    };
    table(&caption, &headers, &shown).to_bundle()
}

fn delimited(path: &str, bytes: &[u8], delimiter: u8, rows: usize) -> Map<String, Value> {
    merged_table(path, &[(String::new(), bytes.to_vec())], delimiter, rows)
}

fn json_lines(path: &str, bytes: &[u8], rows: usize) -> Map<String, Value> {
    let mut keys: Vec<String> = Vec::new();
    let mut objects = Vec::new();
    let mut total = 0;
    for line in String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        total += 1;
        if objects.len() >= rows {
            continue;
        }
        let object = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(object)) => object,
            Ok(other) => Map::from_iter([("value".to_string(), other)]),
            Err(_) => Map::from_iter([("line".to_string(), Value::String(line.into()))]),
        };
        for key in object.keys() {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
        objects.push(object);
    }
    let shown: Vec<Vec<String>> = objects
        .iter()
        .map(|object| {
            keys.iter()
                .map(|key| match object.get(key) {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                })
                .collect()
        })
        .collect();
    let headers: Vec<&str> = keys.iter().map(String::as_str).collect();
    let caption = if total > shown.len() {
        format!(
            "{path}: {total} rows, the first {} shown (--rows N)",
            shown.len()
        )
    } else {
        format!("{path}: {total} rows")
    };
    table(&caption, &headers, &shown).to_bundle()
}

/// The last `lines` lines of `bytes`, if they read as text.
fn text_tail(bytes: &[u8], lines: usize) -> Option<String> {
    if bytes.contains(&0) {
        return None;
    }
    // A tail read may start inside a character: skip to the next one.
    let start = (0..bytes.len().min(4)).find(|&i| std::str::from_utf8(&bytes[i..]).is_ok())?;
    let text = std::str::from_utf8(&bytes[start..]).ok()?;
    let all: Vec<&str> = text.lines().collect();
    Some(all[all.len().saturating_sub(lines)..].join("\n"))
}

/// A file shown only by what it is, with the fetch that brings it.
fn unknown(job: &str, path: &str, size: u64, what: &str) -> Map<String, Value> {
    let text = format!(
        "{path}: {}, {what}; to open it here: %crimpl fetch {job} '{path}'",
        human_size(size)
    );
    bundle(&[], &text)
}

/// A mime bundle of `parts` and the `text/plain` form.
fn bundle(parts: &[(&str, Value)], text: &str) -> Map<String, Value> {
    let mut data: Map<String, Value> = parts
        .iter()
        .map(|(mime, value)| (mime.to_string(), value.clone()))
        .collect();
    data.insert("text/plain".into(), text.into());
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { rows: 2, tail: 2 };

    #[test]
    fn a_csv_is_a_table_of_its_first_rows_with_its_counts() {
        let shown = preview("j", "r.csv", 20, b"a,b\n1,2\n3,4\n5,6\n", LIMITS);
        let text = shown["text/plain"].as_str().unwrap();
        assert!(
            text.contains("r.csv: 2 columns, 3 rows, the first 2 shown"),
            "{text}"
        );
        assert!(
            shown["text/html"]
                .as_str()
                .unwrap()
                .contains("<td style=\"text-align:left\">3</td>")
        );
        assert!(!text.contains('5'));
    }

    #[test]
    fn images_json_and_text_keep_their_types() {
        let png = preview("j", "p.PNG", 3, b"\x89PN", LIMITS);
        assert_eq!(png["image/png"], "iVBO");
        let json = preview("j", "s.json", 7, br#"{"a":1}"#, LIMITS);
        assert_eq!(json["application/json"]["a"], 1);
        let text = preview("j", "run.log", 9, b"1\n2\n3\n4\n", LIMITS);
        assert_eq!(text["text/plain"], "3\n4");
        let binary = preview("j", "model.bin", 4, b"\0\x01\x02\x03", LIMITS);
        assert!(
            binary["text/plain"]
                .as_str()
                .unwrap()
                .contains("%crimpl fetch j 'model.bin'")
        );
    }

    #[test]
    fn merged_tables_say_which_task_each_row_came_from() {
        let files = vec![
            ("task-0001".to_string(), b"x\n1\n".to_vec()),
            ("task-0002".to_string(), b"x\n4\n".to_vec()),
        ];
        let shown = merged_table("result.csv", &files, b',', 10);
        let text = shown["text/plain"].as_str().unwrap();
        assert!(
            text.contains("task-0002") && text.contains("2 rows"),
            "{text}"
        );
    }

    #[test]
    fn a_tail_starting_inside_a_character_still_reads() {
        let bytes = "é\nb".as_bytes();
        assert_eq!(text_tail(&bytes[1..], 5).as_deref(), Some("\nb"));
    }
}
