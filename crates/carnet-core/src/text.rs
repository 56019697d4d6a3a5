//! Text folding for search and sorting: case- and accent-insensitive ("Éloïse" ~ "eloise").

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Lower-cases `s` and strips diacritics, so that comparisons ignore case and accents.
/// Folding twice gives the same text as folding once.
pub fn fold(s: &str) -> String {
    // ASCII text has nothing to decompose and no marks: lower-casing is all of it (most
    // e-mail addresses and phone numbers, many names; every contact is folded on each write).
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    fold_unicode(s)
}

/// [`fold`] for any text.
fn fold_unicode(s: &str) -> String {
    // Decompose and drop marks around lower-casing: lower-casing can add a mark ("İ" → "i̇"),
    // and compatibility decomposition can give capitals ("ℌ" → "H").
    s.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'œ' => 'o',
            'æ' => 'a',
            'ß' => 's',
            'ø' => 'o',
            'ł' => 'l',
            'đ' => 'd',
            _ => c,
        })
        .collect()
}

/// Only the ASCII digits of `s` ("+33 6 12-34" → "33612 34" without separators).
pub fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_and_accents() {
        assert_eq!(fold("Éloïse LEFÈVRE"), "eloise lefevre");
        assert_eq!(fold("Ærøskøbing Œuvre"), "aroskobing ouvre");
        assert_eq!(fold("Ünïcödé"), "unicode");
    }

    #[test]
    fn ascii_folds_as_any_text_does() {
        let every: String = (0u8..128).map(char::from).collect();
        for s in [
            every.as_str(),
            "Jean-Paul O'Brien",
            "+33 6 12 34",
            "ANNE@Exemple.FR",
        ] {
            assert_eq!(fold(s), fold_unicode(s), "{s:?}");
        }
        assert_eq!(fold("ANNE@Exemple.FR"), "anne@exemple.fr");
    }

    #[test]
    fn folding_is_idempotent() {
        for s in ["İstanbul", "ℌello", "Éloïse", "ǅ", "ﬁ", "Straße", "ΣΑΣ"] {
            assert_eq!(fold(&fold(s)), fold(s), "{s}");
        }
        assert_eq!(fold("İstanbul"), fold("istanbul"));
    }

    #[test]
    fn keeps_non_latin_scripts() {
        assert_eq!(fold("Дмитрий"), "дмитрии");
        assert_eq!(fold("李"), "李");
    }

    #[test]
    fn digits_only() {
        assert_eq!(digits("+33 (0)6 12-34"), "33061234");
    }
}
