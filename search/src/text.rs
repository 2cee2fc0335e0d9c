//! How mail text becomes terms, the same way when a mail is indexed and
//! when a query is read.
//!
//! Words are runs of letters and digits. Latin (and other spaced) words
//! are terms, lower-cased. Korean, Chinese and Japanese runs become
//! overlapping two-character terms (bigrams), since their words carry
//! particles and compounds without spaces: "회의록을" is indexed as 회의,
//! 의록, 록을, and a query for 회의록 (회의, 의록 in a row) finds it. A run
//! that mixes scripts is split where the script changes, so that "Q3보고서"
//! is the word q3 followed by the bigrams of 보고서. Every term has a
//! position, one after the other, so that a query of several terms can ask
//! for them in a row.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use unicode_normalization::UnicodeNormalization;

/// The name the index knows [`MailText`] by.
pub const TOKENIZER: &str = "mail_text";

/// Whether `c` belongs to a script written without spaces between words.
fn unspaced(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{11FF}'     // Hangul Jamo
        | '\u{3040}'..='\u{30FF}'   // Hiragana, Katakana
        | '\u{3130}'..='\u{318F}'   // Hangul compatibility Jamo
        | '\u{3400}'..='\u{4DBF}'   // CJK extension A
        | '\u{4E00}'..='\u{9FFF}'   // CJK unified ideographs
        | '\u{A960}'..='\u{A97F}'   // Hangul Jamo extended A
        | '\u{AC00}'..='\u{D7AF}'   // Hangul syllables
        | '\u{D7B0}'..='\u{D7FF}'   // Hangul Jamo extended B
        | '\u{F900}'..='\u{FAFF}'   // CJK compatibility ideographs
        | '\u{FF65}'..='\u{FFDC}'   // half-width Katakana and Hangul
        | '\u{20000}'..='\u{323AF}' // CJK extensions B to H
    )
}

/// One term of a text and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub text: String,
    /// Its place among the text's terms.
    pub position: usize,
    /// Where it comes from in the text, in bytes.
    pub from: usize,
    pub to: usize,
    /// A bigram of an unspaced script (or the one character of a run of
    /// one).
    pub gram: bool,
}

/// The terms of `text`, in order. Text is read in its composed form (NFC),
/// so that Hangul sent as separate jamo (as some systems write file names
/// and text) finds, and is found by, the same syllables; offsets are then
/// of the composed text.
pub fn terms(text: &str) -> Vec<Term> {
    if unicode_normalization::is_nfc_quick(text.chars()) == unicode_normalization::IsNormalized::Yes {
        return terms_of_composed(text);
    }
    terms_of_composed(&text.nfc().collect::<String>())
}

fn terms_of_composed(text: &str) -> Vec<Term> {
    let mut terms = Vec::new();
    let mut run: Vec<(usize, char)> = Vec::new();
    for (at, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        // A run ends at a character that is not a letter or digit, or where
        // the script changes between spaced and unspaced.
        let ends = !c.is_alphanumeric() || run.last().is_some_and(|&(_, last)| unspaced(last) != unspaced(c));
        if ends && !run.is_empty() {
            push_run(&mut terms, &run, at);
            run.clear();
        }
        if c.is_alphanumeric() {
            run.push((at, c));
        }
    }
    terms
}

/// The terms of one run of one kind of script, which ends at byte `end`.
fn push_run(terms: &mut Vec<Term>, run: &[(usize, char)], end: usize) {
    let next = |terms: &Vec<Term>| terms.last().map_or(0, |t| t.position + 1);
    let byte_after = |i: usize| run.get(i + 1).map_or(end, |&(at, _)| at);
    if !unspaced(run[0].1) {
        let text: String = run.iter().flat_map(|&(_, c)| c.to_lowercase()).collect();
        terms.push(Term { text, position: next(terms), from: run[0].0, to: end, gram: false });
        return;
    }
    if run.len() == 1 {
        terms.push(Term { text: run[0].1.to_string(), position: next(terms), from: run[0].0, to: end, gram: true });
        return;
    }
    for (i, pair) in run.windows(2).enumerate() {
        let text: String = pair.iter().map(|&(_, c)| c).collect();
        terms.push(Term { text, position: next(terms), from: pair[0].0, to: byte_after(i + 1), gram: true });
    }
}

/// [`terms`] as a tokenizer of the index.
#[derive(Clone, Default)]
pub struct MailText {
    tokens: Vec<Token>,
}

/// The tokens of one text.
pub struct MailTokens<'a> {
    tokens: &'a mut [Token],
    /// The index of the current token plus one (0: before the first).
    next: usize,
}

impl Tokenizer for MailText {
    type TokenStream<'a> = MailTokens<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> MailTokens<'a> {
        self.tokens.clear();
        self.tokens.extend(terms(text).into_iter().map(|t| Token {
            offset_from: t.from,
            offset_to: t.to,
            position: t.position,
            text: t.text,
            position_length: 1,
        }));
        MailTokens { tokens: &mut self.tokens, next: 0 }
    }
}

impl TokenStream for MailTokens<'_> {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<(String, usize)> {
        terms(text).into_iter().map(|t| (t.text, t.position)).collect()
    }

    #[test]
    fn latin_words_are_lower_cased_terms() {
        assert_eq!(
            texts("Quarterly BUDGET, kim@acme.co.kr"),
            [("quarterly", 0), ("budget", 1), ("kim", 2), ("acme", 3), ("co", 4), ("kr", 5)]
                .map(|(t, p)| (t.to_owned(), p))
        );
    }

    #[test]
    fn korean_runs_become_bigrams_in_a_row() {
        assert_eq!(
            texts("회의록을 보냄"),
            [("회의", 0), ("의록", 1), ("록을", 2), ("보냄", 3)].map(|(t, p)| (t.to_owned(), p))
        );
        assert_eq!(texts("김 과장"), [("김", 0), ("과장", 1)].map(|(t, p)| (t.to_owned(), p)));
    }

    #[test]
    fn a_run_is_split_where_the_script_changes() {
        assert_eq!(
            texts("Q3보고서v2"),
            [("q3", 0), ("보고", 1), ("고서", 2), ("v2", 3)].map(|(t, p)| (t.to_owned(), p))
        );
    }

    #[test]
    fn decomposed_hangul_is_read_as_its_syllables() {
        let decomposed: String = "회의록".nfd().collect();
        assert_ne!(decomposed, "회의록");
        assert_eq!(texts(&decomposed), texts("회의록"));
    }

    #[test]
    fn offsets_cover_each_term() {
        let text = "예산 Budget";
        for term in terms(text) {
            assert_eq!(text[term.from..term.to].to_lowercase(), term.text);
        }
    }

    #[test]
    fn the_tokenizer_gives_the_terms() {
        let mut tokenizer = MailText::default();
        let mut stream = tokenizer.token_stream("메일 검색");
        let mut seen = Vec::new();
        while stream.advance() {
            seen.push(stream.token().text.clone());
        }
        assert_eq!(seen, ["메일", "검색"]);
    }
}
