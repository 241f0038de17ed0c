//! The one layout every account page shares (studio, login, and the upload and video pages to
//! come): header with navigation and who is logged in, the page's CSRF token in a meta tag for
//! its scripts, and the page body. Slots are filled once, left to right, and every value that is
//! not our own markup is HTML-escaped.

const LAYOUT: &str = include_str!("../web/layout.html");

/// The navigation entries, in order: (label, path).
const NAV: [(&str, &str); 9] = [
    ("Home", "/"),
    ("Search", "/search"),
    ("Streams", "/studio"),
    ("Videos", "/studio/videos"),
    ("Upload", "/studio/upload"),
    ("Tokens", "/studio/tokens"),
    ("Signing keys", "/studio/keys"),
    ("Webhooks", "/studio/webhooks"),
    ("API docs", "/api/docs"),
];

/// What a page puts into the layout.
#[derive(Debug)]
pub(crate) struct PageParts<'a> {
    pub title: &'a str,
    /// The path of the navigation entry to mark as current.
    pub current: &'a str,
    /// The logged-in user's display name and the session's CSRF token, if any.
    pub user: Option<(&'a str, &'a str)>,
    /// The page body: our own markup, inserted as is.
    pub main: &'a str,
}

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Fills `{{NAME}}` slots of `template` in one pass (a value containing a slot is not expanded).
pub(crate) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else { break };
        let name = &rest[start + 2..start + len];
        match values.iter().find(|(k, _)| *k == name) {
            Some((_, v)) => {
                out.push_str(&rest[..start]);
                out.push_str(v);
            }
            None => out.push_str(&rest[..start + len + 2]),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

pub(crate) fn render(page: &PageParts<'_>) -> String {
    let nav: String = NAV
        .iter()
        .map(|(label, path)| {
            let current = if *path == page.current { " aria-current=\"page\"" } else { "" };
            format!("<a href=\"{path}\"{current}>{label}</a>")
        })
        .collect();
    let (who, csrf) = match page.user {
        Some((name, csrf)) => (
            format!(
                "<span>{}</span><form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" \
                 value=\"{}\"><button class=\"secondary\" type=\"submit\">Log out</button></form>",
                escape(name),
                escape(csrf)
            ),
            escape(csrf),
        ),
        None => ("<a href=\"/login\">Log in</a>".to_owned(), String::new()),
    };
    fill(LAYOUT, &[("CSRF", &csrf), ("TITLE", &escape(page.title)), ("NAV", &nav), ("WHO", &who), ("MAIN", page.main)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_slots_filled_once() {
        let html = render(&PageParts {
            title: "<b>x</b>",
            current: "/studio",
            user: Some(("Ann \"{{MAIN}}\" <script>", "csrf_1")),
            main: "<p>body</p>",
        });
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt; · oxcast"));
        assert!(html.contains("Ann &quot;{{MAIN}}&quot; &lt;script&gt;"), "a value's slot is not expanded");
        assert!(html.contains("<meta name=\"csrf-token\" content=\"csrf_1\">"));
        assert!(html.contains("<a href=\"/studio\" aria-current=\"page\">Streams</a>"));
        assert_eq!(html.matches("<p>body</p>").count(), 1);
        assert_eq!(fill("a{{X}}b{{Y}}", &[("X", "1")]), "a1b{{Y}}");
    }
}
