//! How `roster admin` prints: aligned text tables and the API's JSON values as cells.

use super::ApiError;
use serde_json::Value;
use std::io::Write;

/// A table of left-aligned columns, each as wide as its widest cell, printed at once.
#[derive(Debug)]
pub(super) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(super) fn new(headers: &[&str]) -> Table {
        Table {
            rows: vec![headers.iter().map(|h| h.to_string()).collect()],
        }
    }

    pub(super) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// A row of `item`'s `fields`, each as a [`cell`].
    pub(super) fn fields(&mut self, item: &Value, fields: &[&str]) {
        self.row(fields.iter().map(|f| cell(item.get(*f))).collect());
    }

    /// Rows below the headers.
    pub(super) fn len(&self) -> usize {
        self.rows.len() - 1
    }

    pub(super) fn write(&self, out: &mut dyn Write) -> Result<(), ApiError> {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                let cell = |r: &Vec<String>| r.get(c).map_or(0, |s| s.chars().count());
                self.rows.iter().map(cell).max().unwrap_or(0)
            })
            .collect();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let pad = widths[c] - cell.chars().count() + 2;
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            writeln!(out, "{}", line.trim_end()).map_err(ApiError::Output)?;
        }
        Ok(())
    }
}

/// A JSON value as a table cell: strings bare, absent or null as `-`, arrays joined.
pub(super) fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.is_empty() => "-".into(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| cell(Some(v)))
            .collect::<Vec<_>>()
            .join(","),
        Some(v) => v.to_string(),
    }
}

/// A datum version (`{"leader_epoch", "seq"}`) as `epoch.seq`; anything else as a cell.
pub(super) fn version(v: Option<&Value>) -> String {
    match v.map(|v| (v.get("leader_epoch"), v.get("seq"))) {
        Some((Some(e), Some(s))) => format!("{e}.{s}"),
        _ => cell(v),
    }
}

/// A process (`{"node", "incarnation"}`) by its node id; anything else as a cell.
pub(super) fn node(v: Option<&Value>) -> String {
    match v.and_then(|v| v.get("node")) {
        Some(n) => n.to_string(),
        None => cell(v),
    }
}

/// A list of processes by their node ids.
pub(super) fn nodes(v: Option<&Value>) -> String {
    match v.and_then(Value::as_array) {
        Some(a) if !a.is_empty() => a
            .iter()
            .map(|p| node(Some(p)))
            .collect::<Vec<_>>()
            .join(","),
        _ => "-".into(),
    }
}

/// `v` as one line of JSON.
pub(super) fn json(out: &mut dyn Write, v: &Value) -> Result<(), ApiError> {
    writeln!(out, "{v}").map_err(ApiError::Output)
}

/// A line of text.
pub(super) fn line(out: &mut dyn Write, s: &str) -> Result<(), ApiError> {
    writeln!(out, "{s}").map_err(ApiError::Output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_align_on_the_widest_cell() {
        let mut t = Table::new(&["ID", "ADDRESS"]);
        t.row(vec!["101".into(), "127.0.0.1:9".into()]);
        t.row(vec!["7".into(), "-".into()]);
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ID   ADDRESS\n101  127.0.0.1:9\n7    -\n"
        );
    }

    #[test]
    fn cells_of_every_json_kind() {
        assert_eq!(cell(None), "-");
        assert_eq!(cell(Some(&json!(null))), "-");
        assert_eq!(cell(Some(&json!("a"))), "a");
        assert_eq!(cell(Some(&json!([1, "b"]))), "1,b");
        assert_eq!(cell(Some(&json!([]))), "-");
        assert_eq!(cell(Some(&json!(true))), "true");
        assert_eq!(
            version(Some(&json!({"leader_epoch": 2, "seq": 17}))),
            "2.17"
        );
        assert_eq!(version(Some(&json!(null))), "-");
        let p = json!({"node": 101, "incarnation": 9});
        assert_eq!(node(Some(&p)), "101");
        assert_eq!(nodes(Some(&json!([p, {"node": 102}]))), "101,102");
        assert_eq!(nodes(Some(&json!([]))), "-");
    }
}
