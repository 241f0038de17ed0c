//! Browser assets compiled into the binary: the watch page, hls.js, and the API reference
//! renderer (Redoc).
//!
//! They are embedded (rather than read from disk or pulled from a CDN) so a
//! single `oxcast` binary can serve a working player offline, with the exact
//! hls.js version pinned by `api/web/package-lock.json` (`build.rs` copies it
//! from `api/web/node_modules` into `OUT_DIR`).
//!
//! The page is a template with one placeholder, `{{STREAM_NAME}}`. Stream names
//! come from publishers, so [`render_player`] escapes them for each context: as
//! JSON string contents (also safe inside `<script>`) in the
//! `const STREAM = "{{STREAM_NAME}}";` line, and as HTML text everywhere else.

/// hls.js (`dist/hls.min.js`), to be served at `/assets/hls.min.js` as
/// `application/javascript`.
pub const HLS_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hls.min.js"));

/// Redoc's standalone bundle, served at `/assets/redoc.standalone.js` for `/api/docs`.
pub const REDOC_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/redoc.standalone.js"));
/// tus-js-client's browser bundle, for the upload page.
pub const TUS_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tus.min.js"));

/// The watch page template; use [`render_player`] to fill in the stream name.
pub const PLAYER_HTML: &str = include_str!("../web/player.html");

const SLOT: &str = "{{STREAM_NAME}}";
const SCRIPT_BEFORE: &str = "const STREAM = \"";
const SCRIPT_AFTER: &str = "\";";

/// The watch page for `stream_name`, to be served at `/watch/{stream_name}` as
/// `text/html; charset=utf-8`.
pub fn render_player(stream_name: &str) -> String {
    let mut out = String::with_capacity(PLAYER_HTML.len() + 4 * stream_name.len());
    let mut rest = PLAYER_HTML;
    // One pass over the template, so a name that itself contains the
    // placeholder is never substituted a second time.
    while let Some(at) = rest.find(SLOT) {
        let (before, after) = rest.split_at(at);
        let after = &after[SLOT.len()..];
        out.push_str(before);
        if before.ends_with(SCRIPT_BEFORE) && after.starts_with(SCRIPT_AFTER) {
            push_js_string_contents(&mut out, stream_name);
        } else {
            push_html_escaped(&mut out, stream_name);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// JSON string contents (no surrounding quotes) that are also inert inside an
/// HTML `<script>` element: `<`, `>` and `&` become `\u003c` etc., so neither
/// `</script>` nor `<!--` can appear.
fn push_js_string_contents(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '<' | '>' | '&' | '\u{0}'..='\u{1f}' | '\u{7f}' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
}

/// Text safe in HTML element content and in quoted attribute values.
fn push_html_escaped(out: &mut String, s: &str) {
    out.push_str(&crate::layout::escape(s));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script_line(page: &str) -> &str {
        let start = page.find(SCRIPT_BEFORE).expect("template has the STREAM line");
        let end = start + page[start..].find('\n').expect("line ends");
        &page[start..end]
    }

    #[test]
    fn plain_name_fills_every_slot() {
        let page = render_player("studio-1");
        assert!(!page.contains(SLOT));
        assert_eq!(script_line(&page), "const STREAM = \"studio-1\";");
        assert!(page.contains("<title>studio-1 "));
    }

    #[test]
    fn hostile_name_cannot_break_out() {
        let name = "a\"</script><b>";
        let page = render_player(name);
        assert_eq!(script_line(&page), r#"const STREAM = "a\"\u003c/script\u003e\u003cb\u003e";"#);
        // The only `</script>` tags are the template's own two.
        assert_eq!(page.matches("</script>").count(), PLAYER_HTML.matches("</script>").count());
        assert!(page.contains("<title>a&quot;&lt;/script&gt;&lt;b&gt; "));
        assert!(!page.contains("<b>"));
    }

    #[test]
    fn escapes_controls_backslashes_and_nested_placeholder() {
        let mut out = String::new();
        push_js_string_contents(&mut out, "x\\y\n\u{1}\u{2028}&é");
        assert_eq!(out, r"x\\y\u000a\u0001\u2028\u0026é");

        let page = render_player("{{STREAM_NAME}}");
        assert_eq!(script_line(&page), "const STREAM = \"{{STREAM_NAME}}\";");
        assert_eq!(page.matches(SLOT).count(), PLAYER_HTML.matches(SLOT).count());
    }
}
