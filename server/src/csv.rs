//! CSV for the county centre's spreadsheets, one way for every export: UTF-8 with a BOM (so
//! spreadsheet programs read Chinese correctly), CRLF line ends, fields quoted when needed
//! (RFC 4180), and a leading `=`, `+`, `-` or `@` defused with `'` so that a spreadsheet never
//! runs a value as a formula (CSV injection).

/// A CSV document being written.
pub struct Csv {
    out: String,
}

impl Csv {
    /// A document with its header row.
    pub fn with_header(header: &[&str]) -> Self {
        let mut csv = Self {
            out: String::from('\u{feff}'),
        };
        csv.row(header);
        csv
    }

    /// Appends one row.
    pub fn row<S: AsRef<str>>(&mut self, fields: &[S]) {
        let line = fields
            .iter()
            .map(|f| field(f.as_ref()))
            .collect::<Vec<_>>()
            .join(",");
        self.out.push_str(&line);
        self.out.push_str("\r\n");
    }

    /// The document.
    pub fn finish(self) -> String {
        self.out
    }
}

/// One field, quoted when needed and defused when a spreadsheet would read it as a formula.
pub fn field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_defused() {
        for (value, written) in [
            ("plain", "plain"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
            ("=SUM(A1)", "'=SUM(A1)"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@cmd", "'@cmd"),
            ("=a,b", "\"'=a,b\""),
            ("", ""),
        ] {
            assert_eq!(field(value), written, "{value:?}");
        }
    }

    #[test]
    fn a_document_starts_with_a_bom_and_ends_rows_with_crlf() {
        let mut csv = Csv::with_header(&["名称", "值"]);
        csv.row(&["a", "=1"]);
        assert_eq!(csv.finish(), "\u{feff}名称,值\r\na,'=1\r\n");
    }
}
