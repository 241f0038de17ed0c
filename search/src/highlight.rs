//! Highlighted snippets: the stored text with the words that matched wrapped in `<mark>`, the
//! rest HTML-escaped, and long text cut to a window around the first match.
//!
//! Done here rather than with tantivy's snippet generator because that one only knows the
//! exact terms of a query: words that matched with a typo or as a prefix would not be marked. A
//! word of the text counts as matched by the same rules the query used ([`Parsed`]).

use crate::schema::text_analyzer;
use crate::text_query::{Parsed, typo_distance};

/// Characters of a description snippet (about two lines).
pub const SNIPPET_CHARS: usize = 180;

/// Decides whether a word of the text matched the query.
#[derive(Debug, Clone)]
pub struct Matcher {
    words: Vec<(String, u8, bool)>,
    exact: Vec<String>,
}

impl Matcher {
    pub fn new(parsed: &Parsed) -> Self {
        let last = parsed.words.len().saturating_sub(1);
        let words = parsed
            .words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), typo_distance(w), parsed.last_is_prefix && i == last))
            .collect();
        Self { words, exact: parsed.phrases.iter().flatten().cloned().collect() }
    }

    fn matches(&self, token: &str, typos: bool) -> bool {
        self.exact.iter().any(|w| w == token)
            || self.words.iter().any(|(w, distance, prefix)| {
                token == w || (*prefix && token.starts_with(w.as_str())) || (typos && within(token, w, *distance))
            })
    }

    /// `text` as HTML with every matched word marked; cut to about `max_chars` around the first
    /// match when given (with "…" where it was cut). Words a typo away count only with `typos`
    /// (a field where the query forgave typos: not descriptions).
    pub fn highlight(&self, text: &str, max_chars: Option<usize>, typos: bool) -> String {
        let mut analyzer = text_analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut marks = Vec::new();
        while stream.advance() {
            let token = stream.token();
            if self.matches(&token.text, typos) {
                marks.push(token.offset_from..token.offset_to);
            }
        }
        let (start, end) = match max_chars {
            Some(max) if text.chars().count() > max => window(text, marks.first().map_or(0, |m| m.start), max),
            _ => (0, text.len()),
        };
        let mut out = String::new();
        if start > 0 {
            out.push('…');
        }
        let mut at = start;
        for mark in marks.iter().filter(|m| m.start >= start && m.end <= end) {
            escape_into(&mut out, &text[at..mark.start]);
            out.push_str("<mark>");
            escape_into(&mut out, &text[mark.start..mark.end]);
            out.push_str("</mark>");
            at = mark.end;
        }
        escape_into(&mut out, &text[at..end]);
        if end < text.len() {
            out.push('…');
        }
        out
    }
}

/// A byte range of about `max` characters of `text` that starts a little before `around`,
/// on character (and where possible word) boundaries.
fn window(text: &str, around: usize, max: usize) -> (usize, usize) {
    let lead = max / 4;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = chars.iter().position(|(i, _)| *i >= around).unwrap_or(0);
    let mut first = at.saturating_sub(lead);
    let last = (first + max).min(chars.len());
    first = last.saturating_sub(max).min(first);
    // Start after a space when one is near, so the snippet does not open mid-word.
    if first > 0
        && let Some(space) = chars[first..at].iter().position(|(_, c)| c.is_whitespace())
    {
        first += space + 1;
    }
    let start = chars.get(first).map_or(text.len(), |(i, _)| *i);
    let end = chars.get(last).map_or(text.len(), |(i, _)| *i);
    (start, end)
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Whether `a` and `b` are at most `distance` edits apart (insertions, deletions, substitutions,
/// and swaps of neighbours, each one edit: what the query's fuzzy matching counts).
fn within(a: &str, b: &str, distance: u8) -> bool {
    if distance == 0 {
        return a == b;
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let d = usize::from(distance);
    if a.len().abs_diff(b.len()) > d {
        return false;
    }
    // Optimal string alignment distance, row by row.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1).min(current[j - 1] + 1).min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()] <= d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_typo_and_prefix_matches_are_marked_and_the_rest_escaped() {
        let m = Matcher::new(&Parsed::new("strem <b>tutor"));
        let html = m.highlight("Live Streaming <b>for</b> beginners & a Tutorial", None, true);
        assert_eq!(
            html,
            "Live Streaming &lt;<mark>b</mark>&gt;for&lt;/<mark>b</mark>&gt; beginners &amp; a <mark>Tutorial</mark>"
        );
        let m = Matcher::new(&Parsed::new("streem"));
        assert_eq!(m.highlight("A stream", None, true), "A <mark>stream</mark>", "one typo in a 6-letter word");
        assert_eq!(m.highlight("A stream", None, false), "A stream", "no typos where the query forgives none");
        let m = Matcher::new(&Parsed::new("\"big buck\" "));
        assert_eq!(m.highlight("Big Buck Bunny bigger", None, true), "<mark>Big</mark> <mark>Buck</mark> Bunny bigger");
    }

    #[test]
    fn a_long_text_is_cut_around_the_first_match() {
        let text = format!("{} the needle is here {}", "hay ".repeat(100), "straw ".repeat(100));
        let html = Matcher::new(&Parsed::new("needle ")).highlight(&text, Some(60), true);
        assert!(html.starts_with('…') && html.ends_with('…'), "{html}");
        assert!(html.contains("<mark>needle</mark>"), "{html}");
        assert!(html.chars().count() < 80, "{html}");
        let short = Matcher::new(&Parsed::new("x")).highlight("short text", Some(60), true);
        assert_eq!(short, "short text");
    }

    #[test]
    fn edit_distance_counts_swaps_as_one() {
        assert!(within("streaming", "straeming", 1));
        assert!(within("tutorial", "tutorail", 1));
        assert!(!within("tutorial", "tuotiral", 1));
        assert!(within("kitten", "sitten", 1) && !within("kitten", "sittin", 1) && within("kitten", "sittin", 2));
    }
}
