//! What a person types, turned into a tantivy query: words and "quoted phrases", with typo
//! tolerance (edit distance 1 for words of 4+ characters, 2 for 8+) in the title, the tags and the
//! owner's name, the last word also matched as a prefix while it is being typed (search as you
//! type), and fields weighted title > tags > description = owner.
//!
//! Descriptions match words exactly (and the word being typed as a prefix), without typos: a
//! typo-tolerant match walks a term dictionary with an automaton, and the descriptions' is by
//! far the largest (on 100,000 videos typos there doubled the time of every query,
//! BENCHMARKS.md), while the words people mistype are the ones they want to find in titles, tags
//! and names. Typos and prefixes run on the schema's combined fields, one automaton per word.
//!
//! Every word must match somewhere (in any field, exactly, with a typo or as a prefix); within a
//! word the best field counts, with a little credit for others, so a video whose title has the
//! word beats one that only mentions it in passing. Exact matches score above typo matches.

use tantivy::Term;
use tantivy::query::{BoostQuery, DisjunctionMaxQuery, FuzzyTermQuery, PhraseQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};

use crate::schema::{Fields, words};

/// A typed query, cut into what it asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Words outside quotes, as the index's analyzer cuts them.
    pub words: Vec<String>,
    /// Each quoted phrase's words.
    pub phrases: Vec<Vec<String>>,
    /// The last word is still being typed (no space or quote after it): matched as a prefix too.
    pub last_is_prefix: bool,
}

impl Parsed {
    pub fn new(text: &str) -> Self {
        let mut parsed = Parsed::default();
        let mut last_segment_is_words = false;
        for (i, segment) in text.split('"').enumerate() {
            if i % 2 == 1 {
                let phrase = words(segment);
                if !phrase.is_empty() {
                    parsed.phrases.push(phrase);
                }
                last_segment_is_words = false;
            } else {
                let found = words(segment);
                last_segment_is_words = !found.is_empty();
                parsed.words.extend(found);
            }
        }
        let trailing_space = text.ends_with(|c: char| c.is_whitespace() || c == '"');
        parsed.last_is_prefix = last_segment_is_words && !trailing_space;
        parsed
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.phrases.is_empty()
    }

    /// The query clauses: one per word and one per phrase, each of which must match.
    pub fn clauses(&self, f: &Fields) -> Vec<Box<dyn Query>> {
        let mut clauses: Vec<Box<dyn Query>> = Vec::new();
        for (i, word) in self.words.iter().enumerate() {
            let prefix = self.last_is_prefix && i + 1 == self.words.len();
            clauses.push(word_query(f, word, prefix));
        }
        for phrase in &self.phrases {
            clauses.push(phrase_query(f, phrase));
        }
        clauses
    }
}

/// The edit distance a word may be off by: 0 below 4 characters, 1 from 4, 2 from 8.
pub fn typo_distance(word: &str) -> u8 {
    match word.chars().count() {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// The fields a word is looked for in, with their weights.
fn weighted(f: &Fields) -> [(Field, f32); 4] {
    [(f.title, 3.0), (f.tags, 2.0), (f.description, 1.0), (f.owner, 1.0)]
}

fn word_query(f: &Fields, word: &str, prefix: bool) -> Box<dyn Query> {
    // Exact: per field, with its weight; the best field counts, a little credit for others.
    let exact = weighted(f)
        .into_iter()
        .map(|(field, weight)| {
            let term = Term::from_field_text(field, word);
            Box::new(BoostQuery::new(Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)), weight))
                as Box<dyn Query>
        })
        .collect();
    let mut ways: Vec<Box<dyn Query>> = vec![Box::new(DisjunctionMaxQuery::with_tie_breaker(exact, 0.2))];
    // Typos and prefixes on the combined fields (one automaton each), scored as a constant below
    // an exact title match: a typo as 40 % of one, a prefix as 60 % (and 20 % outside the title).
    let distance = typo_distance(word);
    if distance > 0 {
        let term = Term::from_field_text(f.typo_words, word);
        ways.push(Box::new(BoostQuery::new(Box::new(FuzzyTermQuery::new(term, distance, true)), 3.0 * 0.4)));
    }
    if prefix {
        let title = Term::from_field_text(f.title, word);
        ways.push(Box::new(BoostQuery::new(Box::new(FuzzyTermQuery::new_prefix(title, 0, true)), 3.0 * 0.6)));
        let anywhere = Term::from_field_text(f.all_words, word);
        ways.push(Box::new(BoostQuery::new(Box::new(FuzzyTermQuery::new_prefix(anywhere, 0, true)), 0.6)));
    }
    Box::new(DisjunctionMaxQuery::new(ways))
}

fn phrase_query(f: &Fields, phrase: &[String]) -> Box<dyn Query> {
    let per_field = weighted(f)
        .into_iter()
        .map(|(field, weight)| {
            let query: Box<dyn Query> = if phrase.len() == 1 {
                Box::new(TermQuery::new(Term::from_field_text(field, &phrase[0]), IndexRecordOption::WithFreqs))
            } else {
                let terms = phrase.iter().map(|w| Term::from_field_text(field, w)).collect();
                Box::new(PhraseQuery::new(terms))
            };
            Box::new(BoostQuery::new(query, weight)) as Box<dyn Query>
        })
        .collect();
    Box::new(DisjunctionMaxQuery::with_tie_breaker(per_field, 0.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_phrases_and_the_word_being_typed() {
        let p = Parsed::new("Rust \"live streaming\" tutor");
        assert_eq!(p.words, ["rust", "tutor"]);
        assert_eq!(p.phrases, [vec!["live".to_owned(), "streaming".to_owned()]]);
        assert!(p.last_is_prefix);
        assert!(!Parsed::new("rust tutorial ").last_is_prefix, "a space ends the word");
        assert!(!Parsed::new("rust \"live streaming\"").last_is_prefix, "a phrase is never a prefix");
        assert_eq!(Parsed::new("\"unclosed phrase").phrases, [vec!["unclosed".to_owned(), "phrase".to_owned()]]);
        assert_eq!(Parsed::new("Café-Crème").words, ["cafe", "creme"], "the index's own analyzer");
        assert!(Parsed::new("  \"\" ").is_empty());
        assert_eq!((typo_distance("cat"), typo_distance("cats"), typo_distance("streamer")), (0, 1, 2));
    }
}
