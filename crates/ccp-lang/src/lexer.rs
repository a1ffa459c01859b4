//! Tokenizer for the datapath-program language (spec §3.1).
//!
//! * Whitespace separates tokens and is optional next to parentheses.
//! * `#` starts a comment that runs to the end of the line. Comments are accepted
//!   anywhere (deliberately more permissive than portus, which accepts one only right
//!   before a `when` clause).
//! * A *word* is a maximal run of `[A-Za-z0-9._]`: names, keywords, word operators and
//!   numbers are all words and are told apart by the parser.
//! * A *symbol* is a maximal run of `+ - * / = < > & | : !`, e.g. `:=`, `&&`, `>=`
//!   (the last one is rejected later with a helpful message). `!if` and `+infinity` are
//!   single tokens.

use crate::error::{CompileError, ErrorKind};
use crate::span::Span;

/// One token (borrowing its text from the source).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token<'a> {
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// A run of name characters: a name, keyword, word operator or number.
    Word(&'a str),
    /// A run of operator symbols (or `!if`).
    Sym(&'a str),
    /// `+infinity`.
    Infinity,
}

impl Token<'_> {
    /// How the token is shown in messages.
    pub fn describe(&self) -> String {
        match self {
            Token::LParen => "`(`".to_string(),
            Token::RParen => "`)`".to_string(),
            Token::Word(w) | Token::Sym(w) => format!("`{w}`"),
            Token::Infinity => "`+infinity`".to_string(),
        }
    }
}

/// Whether `c` may appear in a word.
pub fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '_'
}

fn is_sym_char(c: char) -> bool {
    matches!(
        c,
        '+' | '-' | '*' | '/' | '=' | '<' | '>' | '&' | '|' | ':' | '!'
    )
}

/// Split `src` into tokens with their spans. Comments and whitespace are dropped.
pub fn tokenize(src: &str) -> Result<Vec<(Token<'_>, Span)>, CompileError> {
    let mut out = Vec::new();
    let bytes = src.as_bytes();
    let mut i = 0;
    // Length in bytes of the word starting at byte `j`.
    let word_len = |j: usize| {
        src[j..]
            .char_indices()
            .find(|&(_, c)| !is_word_char(c))
            .map_or(src.len() - j, |(k, _)| k)
    };
    while i < bytes.len() {
        let Some(c) = src[i..].chars().next() else {
            break;
        };
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        match c {
            '#' => {
                i = src[i..].find('\n').map_or(src.len(), |k| i + k);
            }
            '(' => {
                out.push((Token::LParen, Span::new(i, i + 1)));
                i += 1;
            }
            ')' => {
                out.push((Token::RParen, Span::new(i, i + 1)));
                i += 1;
            }
            c if is_word_char(c) => {
                let n = word_len(i);
                out.push((Token::Word(&src[i..i + n]), Span::new(i, i + n)));
                i += n;
            }
            c if is_sym_char(c) => {
                let n = src[i..]
                    .char_indices()
                    .find(|&(_, c)| !is_sym_char(c))
                    .map_or(src.len() - i, |(k, _)| k);
                let sym = &src[i..i + n];
                let after = i + n;
                let next_word = &src[after..after + word_len(after)];
                if sym == "+" && next_word == "infinity" {
                    out.push((Token::Infinity, Span::new(i, after + next_word.len())));
                    i = after + next_word.len();
                } else if sym == "!" && next_word == "if" {
                    out.push((Token::Sym(&src[i..after + 2]), Span::new(i, after + 2)));
                    i = after + 2;
                } else {
                    out.push((Token::Sym(sym), Span::new(i, after)));
                    i = after;
                }
            }
            other => {
                return Err(CompileError::new(
                    ErrorKind::UnexpectedChar(other),
                    Span::new(i, i + other.len_utf8()),
                    src,
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Token<'_>> {
        tokenize(s).unwrap().into_iter().map(|t| t.0).collect()
    }

    #[test]
    fn words_symbols_and_specials() {
        assert_eq!(
            toks("(:= Report.x (+ 1 +infinity)) # c (x\n(!if a b)"),
            vec![
                Token::LParen,
                Token::Sym(":="),
                Token::Word("Report.x"),
                Token::LParen,
                Token::Sym("+"),
                Token::Word("1"),
                Token::Infinity,
                Token::RParen,
                Token::RParen,
                Token::LParen,
                Token::Sym("!if"),
                Token::Word("a"),
                Token::Word("b"),
                Token::RParen,
            ]
        );
    }

    #[test]
    fn plus_infinity_prefix_is_not_infinity() {
        assert_eq!(
            toks("+infinityx"),
            vec![Token::Sym("+"), Token::Word("infinityx")]
        );
        assert_eq!(toks(">="), vec![Token::Sym(">=")]);
        assert_eq!(toks("!iffy"), vec![Token::Sym("!"), Token::Word("iffy")]);
    }

    #[test]
    fn comment_at_end_without_newline() {
        assert_eq!(toks("a # trailing"), vec![Token::Word("a")]);
    }

    #[test]
    fn unexpected_character() {
        let e = tokenize("(def)\n (when \"x\")").unwrap_err();
        assert_eq!((e.line, e.col), (2, 8));
        assert_eq!(e.message(), "unexpected character `\"`");
    }
}
