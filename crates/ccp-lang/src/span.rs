//! Source positions: byte spans and their 1-based line:column rendering.

/// A half-open byte range `start..end` into the program source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// A span covering `start..end`.
    pub const fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// Line number, starting at 1.
    pub line: u32,
    /// Column number (in characters), starting at 1.
    pub col: u32,
}

/// Where byte `offset` of `src` lies. Offsets past the end (or inside a multi-byte
/// character) are clamped to the nearest preceding character boundary.
pub fn locate(src: &str, offset: usize) -> Location {
    let mut off = offset.min(src.len());
    while off > 0 && !src.is_char_boundary(off) {
        off -= 1;
    }
    let before = &src[..off];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let col = before[line_start..].chars().count() + 1;
    Location {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        col: u32::try_from(col).unwrap_or(u32::MAX),
    }
}

/// The text of the line containing byte `offset` (without its line terminator).
pub fn line_text(src: &str, offset: usize) -> &str {
    let mut off = offset.min(src.len());
    while off > 0 && !src.is_char_boundary(off) {
        off -= 1;
    }
    let start = src[..off].rfind('\n').map_or(0, |i| i + 1);
    let end = src[off..].find('\n').map_or(src.len(), |i| off + i);
    src[start..end].trim_end_matches('\r')
}

/// Render the offending source line and a caret line under `span` (two lines, each
/// terminated by `\n`). Tabs before the column are kept so the caret lines up.
pub fn snippet(src: &str, span: Span) -> String {
    let line = line_text(src, span.start);
    let loc = locate(src, span.start);
    let prefix: String = line
        .chars()
        .take(loc.col.saturating_sub(1) as usize)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    // Width of the span on this line, in characters (at least one caret).
    let mut start = span.start.min(src.len());
    while start > 0 && !src.is_char_boundary(start) {
        start -= 1;
    }
    let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
    let end = span.end.clamp(start, line_end);
    let width = src.get(start..end).map_or(1, |s| s.chars().count()).max(1);
    format!("{line}\n{prefix}{}\n", "^".repeat(width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_lines_and_columns() {
        let src = "ab\ncdé f\n";
        assert_eq!(locate(src, 0), Location { line: 1, col: 1 });
        assert_eq!(locate(src, 3), Location { line: 2, col: 1 });
        // 'f' comes after a two-byte 'é': byte 8, character column 5.
        assert_eq!(locate(src, 8), Location { line: 2, col: 5 });
        assert_eq!(locate(src, 100), Location { line: 3, col: 1 });
    }

    #[test]
    fn snippet_points_at_span() {
        let src = "(def)\n  (when foo)\n";
        let s = snippet(src, Span::new(14, 17));
        assert_eq!(s, "  (when foo)\n        ^^^\n");
    }
}
