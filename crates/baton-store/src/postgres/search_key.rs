//! The search keys under PostgreSQL's trigram indexes (migration 16, ADR 37).
//!
//! pg_trgm splits a text into words at every character that is not alphanumeric, so
//! `order-12345` would be looked up as `order` and `12345` apart. A key is its text with each
//! ASCII character other than a letter or a digit replaced by [`KEY_LETTER`], one character
//! for one: the key of a text found in a document is found in the document's key, and the
//! index reads keys, whose words run across punctuation. The documents themselves still
//! decide each match.
//!
//! Keys are made here, not in SQL: `translate()` costs about a microsecond a character (it
//! looks each character up in its list of 65), against a few nanoseconds here. SQL's
//! `baton_search_key` (migration 16) maps the same characters, for the documents the
//! migration keys and the stored inputs an update keeps. The stored key is `lower()` of
//! this one, as the document is `lower()` of its text: `lower` changes no ASCII character
//! other than a capital and makes none, so folding before or after the mapping is the same.

/// The letter every ASCII character other than a letter or a digit becomes: a letter, so
/// that pg_trgm takes it into words under every encoding and locale, and a rare one in lower
/// case, so that few documents hold it where a text has punctuation (hexadecimal ids never
/// hold it, nor ISO times). A document that does is a candidate the document's own match
/// drops.
pub(super) const KEY_LETTER: char = 'q';

/// The key of `text` (before folding its case).
pub(super) fn search_key(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_alphanumeric() {
                KEY_LETTER
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_and_spaces_become_one_letter_each() {
        assert_eq!(search_key("Order-12345"), "Orderq12345");
        assert_eq!(search_key("a.b_c/d x\ny"), "aqbqcqdqxqy");
        assert_eq!(search_key("%_\\'\"\t\u{7f}\u{1}"), "qqqqqqqq");
        // Beyond ASCII, characters stay: one for one.
        assert_eq!(search_key("ünï-😀 é"), "ünïq😀qé");
        for c in (1u8..=127).map(char::from) {
            let key = search_key(&c.to_string());
            let expected = if c.is_ascii_alphanumeric() { c } else { 'q' };
            assert_eq!(key, expected.to_string(), "{c:?}");
        }
    }
}
