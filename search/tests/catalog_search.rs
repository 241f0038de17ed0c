//! Search over a small fixed catalog in a real store: relevance (typos, prefixes, phrases, field
//! weights), filters, sorts, paging, snippets, streams live first; privacy never leaking through
//! search or suggestions; the index following changes, and an index built from the change log
//! equal to one rebuilt from the tables.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use oxcast_search::{Scope, SearchIndex, SearchRequest, Sort, catch_up_once, rebuild};
use oxcast_store::{NewUser, NewVideo, PlaybackPolicy, Privacy, Processed, Role, Store, StreamDetails, VideoDetails};

struct Catalog {
    store: Store,
    ann: String,
    bob: String,
    /// Video ids by a short name.
    ids: std::collections::HashMap<&'static str, String>,
}

struct V {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    tags: &'static [&'static str],
    category: &'static str,
    language: &'static str,
    seconds: i64,
    privacy: Privacy,
    ready: bool,
    published: i64,
    views: i64,
}

const DAY: i64 = 86_400;
const T0: i64 = 1_780_000_000;

fn v(name: &'static str, title: &'static str, description: &'static str, tags: &'static [&'static str]) -> V {
    V {
        name,
        title,
        description,
        tags,
        category: "",
        language: "en",
        seconds: 60,
        privacy: Privacy::Public,
        ready: true,
        published: T0,
        views: 0,
    }
}

async fn catalog() -> Catalog {
    catalog_on(Store::open("sqlite::memory:").await.unwrap()).await
}

async fn catalog_on(store: Store) -> Catalog {
    let user = |name: &'static str, display: &'static str| NewUser {
        name,
        display_name: Some(display),
        password: None,
        role: Role::Creator,
    };
    let ann = store.users().create(user("ann", "Ann Archer")).await.unwrap().id;
    let bob = store.users().create(user("bob", "Bob Baker")).await.unwrap().id;
    let videos = [
        V {
            category: "Education",
            seconds: 600,
            published: T0 + DAY,
            views: 50,
            ..v("rust", "Rust programming tutorial for beginners", "Learn Rust step by step.", &["rust", "programming"])
        },
        V {
            category: "Education",
            seconds: 1200,
            published: T0 + 2 * DAY,
            views: 900,
            ..v(
                "obs",
                "Live streaming with OBS: the complete guide",
                "Scenes, sources and a stable bitrate.",
                &["obs", "streaming"],
            )
        },
        V {
            category: "Food",
            language: "it",
            seconds: 300,
            published: T0 + 3 * DAY,
            views: 10,
            ..v("carbonara", "Cooking pasta carbonara", "Guanciale, pecorino, eggs.", &["cooking", "italian"])
        },
        V {
            category: "Food",
            language: "it",
            seconds: 420,
            published: T0 + 4 * DAY,
            views: 5,
            ..v("roman", "Carbonara the Roman way", "The pasta dish as Rome makes it.", &[])
        },
        V {
            category: "Film",
            seconds: 596,
            published: T0 + 5 * DAY,
            views: 300,
            ..v("bunny", "Big Buck Bunny", "An animated short film about a big rabbit.", &["animation"])
        },
        V {
            category: "Sports",
            seconds: 240,
            published: T0 + 6 * DAY,
            views: 70,
            ..v("bikes", "Bunny hop tutorial for mountain bikes", "Jump your bike.", &["mtb"])
        },
        V {
            category: "Education",
            seconds: 900,
            published: T0 + 7 * DAY,
            views: 20,
            ..v("go", "Programming in Go", "Goroutines and channels, compared with Rust.", &["go"])
        },
        V { privacy: Privacy::Private, ..v("private", "Secret rust roadmap", "Not for anyone else.", &[]) },
        V { privacy: Privacy::Unlisted, ..v("unlisted", "Unlisted rust notes", "By link only.", &[]) },
        V { ready: false, ..v("failed", "Broken rust upload", "It failed.", &[]) },
    ];
    let mut ids = std::collections::HashMap::new();
    for video in videos {
        let details = VideoDetails {
            title: video.title.into(),
            description: video.description.into(),
            tags: video.tags.iter().map(|t| (*t).to_owned()).collect(),
            category: video.category.into(),
            language: video.language.into(),
            privacy: video.privacy,
            playback: PlaybackPolicy::Public,
        };
        let new = NewVideo { owner_id: &ann, details, profile: None, upload_size: Some(1) };
        let id = store.videos().create(new).await.unwrap().id;
        assert!(store.videos().start_processing(&id).await.unwrap());
        if video.ready {
            let processed = Processed { duration_ms: video.seconds * 1000, ..Processed::default() };
            assert!(store.videos().set_ready(&id, &processed).await.unwrap());
        } else {
            assert!(store.videos().set_failed(&id, "the file is damaged").await.unwrap());
        }
        store.videos().set_published_and_views_for_tests(&id, video.published, video.views).await.unwrap();
        ids.insert(video.name, id);
    }
    // Bob's video: his name is searchable.
    let details = VideoDetails {
        title: "Rust belt photography".into(),
        category: "Art".into(),
        privacy: Privacy::Public,
        ..VideoDetails::default()
    };
    let id = store
        .videos()
        .create(NewVideo { owner_id: &bob, details, profile: None, upload_size: Some(1) })
        .await
        .unwrap()
        .id;
    store.videos().start_processing(&id).await.unwrap();
    store.videos().set_ready(&id, &Processed { duration_ms: 30_000, ..Processed::default() }).await.unwrap();
    ids.insert("belt", id);

    // Streams: one live, one not, one private.
    for (name, title, privacy, live) in [
        ("rustconf", "RustConf keynote", Privacy::Public, true),
        ("rust-hangout", "Rust Rust Rust hangout", Privacy::Public, false),
        ("cookalong", "Pasta cook-along", Privacy::Public, false),
        ("secret-stream", "Rust secret meeting", Privacy::Private, true),
    ] {
        store.streams().create(name, &ann, None).await.unwrap();
        let details = StreamDetails { title: title.into(), description: String::new(), category: "Live".into() };
        store.streams().set_details(name, details).await.unwrap();
        store.streams().set_access(name, privacy, PlaybackPolicy::Public).await.unwrap();
        if live {
            store.broadcasts().start(name, Some(&ann), None).await.unwrap();
        }
    }
    Catalog { store, ann, bob, ids }
}

async fn built(catalog: &Catalog) -> Arc<SearchIndex> {
    let index = Arc::new(SearchIndex::in_memory().unwrap());
    rebuild(&index, &catalog.store).await.unwrap();
    index
}

fn find(index: &SearchIndex, text: &str) -> SearchRequest {
    let _ = index;
    SearchRequest { text: text.into(), limit: 20, ..SearchRequest::default() }
}

fn video_names(c: &Catalog, index: &SearchIndex, request: &SearchRequest) -> Vec<&'static str> {
    let results = index.search(request).unwrap();
    results.videos.iter().map(|h| *c.ids.iter().find(|(_, id)| **id == h.item.id).unwrap().0).collect()
}

#[tokio::test]
async fn relevance_typos_prefixes_phrases_and_field_weights() {
    let c = catalog().await;
    let index = built(&c).await;
    let names = |text: &str| video_names(&c, &index, &find(&index, text));

    // A title match beats a description match; the owner's name counts too.
    let rust = names("rust ");
    assert_eq!(rust[..2].iter().collect::<std::collections::HashSet<_>>(), [&"rust", &"belt"].into_iter().collect());
    assert!(rust.contains(&"go"), "a mention in the description still matches: {rust:?}");
    assert_eq!(names("rust programming ")[0], "rust", "both words in the title first");
    assert_eq!(names("bob baker "), ["belt"], "the owner's display name is searched");
    // Typos: one edit from 4 letters, two from 8, none below.
    let mut tutorial = names("tutorail ");
    tutorial.sort();
    assert_eq!(tutorial, ["bikes", "rust"], "tutorial, one swap away");
    let two_typos = names("progrmmnig ");
    assert!(two_typos.contains(&"rust") && two_typos.contains(&"go"), "{two_typos:?}");
    assert!(names("bunni ").contains(&"bunny"), "4+ letters: one edit");
    assert!(names("bg ").is_empty(), "no typos below 4 letters");
    assert_eq!(names("rabbit "), ["bunny"], "a word of a description");
    assert!(names("rabbti ").is_empty(), "descriptions match without typos (titles, tags and names with)");
    // Search as you type: the last word is a prefix.
    let mut typing = names("carbo");
    typing.sort();
    assert_eq!(typing, ["carbonara", "roman"]);
    assert!(names("carbo ").is_empty(), "a finished word is a word, not a prefix");
    assert_eq!(names("big buck bun")[0], "bunny");
    // Phrases: the words in that order.
    assert_eq!(names("\"big buck\""), ["bunny"]);
    assert!(names("\"buck big\"").is_empty());
    assert_eq!(names("\"the complete guide\" obs"), ["obs"]);
    // Accents fold.
    assert_eq!(names("cárbonara ").len(), 2);

    // Snippets mark what matched (typos and prefixes too), escaped.
    let hit = &index.search(&find(&index, "tutorail beginn")).unwrap().videos[0];
    assert_eq!(hit.title_html, "Rust programming <mark>tutorial</mark> for <mark>beginners</mark>");
    let hit = &index.search(&find(&index, "rabbit ")).unwrap().videos[0];
    assert!(hit.description_html.contains("a big <mark>rabbit</mark>"), "{}", hit.description_html);
}

#[tokio::test]
async fn filters_sorts_and_pages() {
    let c = catalog().await;
    let index = built(&c).await;
    let names = |r: SearchRequest| video_names(&c, &index, &r);
    let all = || SearchRequest { limit: 50, ..SearchRequest::default() };

    let mut food = names(SearchRequest { category: Some("FOOD".into()), ..all() });
    food.sort();
    assert_eq!(food, ["carbonara", "roman"]);
    assert_eq!(names(SearchRequest { language: Some("it".into()), text: "pasta".into(), ..all() }).len(), 2);
    let long = names(SearchRequest { min_duration_ms: Some(600_000), ..all() });
    assert_eq!(long, ["go", "obs", "rust"], "newest first without words");
    let mid = names(SearchRequest { min_duration_ms: Some(300_000), max_duration_ms: Some(600_000), ..all() });
    assert_eq!(mid, ["bunny", "roman", "carbonara", "rust"]);
    let window =
        names(SearchRequest { published_after: Some(T0 + 3 * DAY), published_before: Some(T0 + 5 * DAY), ..all() });
    assert_eq!(window, ["bunny", "roman", "carbonara"]);

    // Sorts.
    assert_eq!(names(SearchRequest { text: "tutorial ".into(), sort: Sort::Newest, ..all() }), ["bikes", "rust"]);
    let by_views = names(SearchRequest { sort: Sort::MostViewed, limit: 3, ..all() });
    assert_eq!(by_views, ["obs", "bunny", "bikes"]);

    // Pages: every public ready video once, in order.
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = index.search(&SearchRequest { limit: 3, offset, ..SearchRequest::default() }).unwrap();
        seen.extend(page.videos.iter().map(|h| h.item.id.clone()));
        match page.next_offset {
            Some(next) => offset = next,
            None => break,
        }
    }
    assert_eq!(seen.len(), 8, "seven of Ann's public ready videos and Bob's");
    assert_eq!(seen.iter().collect::<std::collections::HashSet<_>>().len(), 8, "no duplicates");
    assert!(index.search(&SearchRequest { limit: 50, offset: 990, ..SearchRequest::default() }).is_err());

    // Scopes.
    assert!(
        index.search(&SearchRequest { text: "rust".into(), scope: Scope::Videos, ..all() }).unwrap().streams.is_empty()
    );
    let streams = index.search(&SearchRequest { text: "rust".into(), scope: Scope::Streams, ..all() }).unwrap();
    assert!(streams.videos.is_empty());
}

#[tokio::test]
async fn live_streams_first_and_nothing_hidden_leaks() {
    let c = catalog().await;
    let index = built(&c).await;

    // "Rust Rust Rust hangout" matches better, but the live stream comes first.
    let results = index.search(&find(&index, "rust")).unwrap();
    let streams: Vec<(&str, bool)> = results.streams.iter().map(|s| (s.item.id.as_str(), s.item.live)).collect();
    assert_eq!(streams, [("rustconf", true), ("rust-hangout", false)], "and never the private stream");

    let hidden = ["private", "unlisted", "failed"].map(|n| c.ids[n].clone());
    for viewer in [None, Some(c.bob.clone())] {
        for text in ["rust", "secret", "unlisted", "broken", "notes", ""] {
            let request =
                SearchRequest { text: text.into(), limit: 50, viewer: viewer.clone(), ..SearchRequest::default() };
            let results = index.search(&request).unwrap();
            assert!(results.videos.iter().all(|h| !hidden.contains(&h.item.id)), "{text:?} as {viewer:?}");
            assert!(results.streams.iter().all(|s| s.item.id != "secret-stream"), "{text:?} as {viewer:?}");
        }
        for typed in ["secr", "unlis", "brok", "rust sec"] {
            let found = index.suggest(typed, viewer.as_deref()).unwrap();
            assert!(found.iter().all(|s| !hidden.contains(&s.id) && s.id != "secret-stream"), "{typed}: {found:?}");
        }
    }
    // The owner finds her own hidden items.
    let mine =
        SearchRequest { text: "rust".into(), limit: 50, viewer: Some(c.ann.clone()), ..SearchRequest::default() };
    let results = index.search(&mine).unwrap();
    for id in &hidden {
        assert!(results.videos.iter().any(|h| &h.item.id == id), "the owner sees {id}");
    }
    assert!(results.streams.iter().any(|s| s.item.id == "secret-stream"));
    let mut suggested: Vec<String> =
        index.suggest("secr", Some(&c.ann)).unwrap().into_iter().map(|s| s.title).collect();
    suggested.sort();
    assert_eq!(suggested, ["Rust secret meeting", "Secret rust roadmap"]);
    assert_eq!(index.suggest("carb", None).unwrap().len(), 2);
}

#[tokio::test]
async fn the_index_follows_the_change_log_and_equals_a_rebuild() {
    follows_and_equals_a_rebuild(catalog().await).await;
}

#[tokio::test]
async fn the_index_follows_the_change_log_on_postgresql_too() {
    let database = oxcast_store::TestDatabase::postgres().await;
    follows_and_equals_a_rebuild(catalog_on(Store::open(database.url()).await.unwrap()).await).await;
}

async fn follows_and_equals_a_rebuild(c: Catalog) {
    // One index fed only by the change log, one rebuilt from the tables.
    let followed = Arc::new(SearchIndex::in_memory().unwrap());
    while catch_up_once(&followed, &c.store).await.unwrap() > 0 {}
    let rebuilt = built(&c).await;
    let queries = ["rust", "carbo", "\"big buck\"", "tutorail", "", "pasta", "live"];
    let snapshot = |index: &SearchIndex| {
        queries
            .iter()
            .map(|q| {
                let r = index
                    .search(&SearchRequest {
                        text: (*q).into(),
                        limit: 50,
                        viewer: Some(c.ann.clone()),
                        ..SearchRequest::default()
                    })
                    .unwrap();
                let mut videos: Vec<_> =
                    r.videos.into_iter().map(|h| (h.item.id, h.item.title, h.item.views, h.item.published)).collect();
                videos.sort();
                let mut streams: Vec<_> = r.streams.into_iter().map(|h| (h.item.id, h.item.live)).collect();
                streams.sort();
                (videos, streams)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(snapshot(&followed), snapshot(&rebuilt));
    assert_eq!(followed.len(), rebuilt.len());
    assert_eq!(followed.position(), rebuilt.position());

    // Changes follow: a title edit, a video made private, a deletion, a stream going off air.
    let carbonara = c.ids["carbonara"].clone();
    let mut details = c.store.videos().get(&carbonara).await.unwrap().unwrap().details;
    details.title = "Spaghetti alla carbonara".into();
    c.store.videos().set_details(&carbonara, details).await.unwrap();
    let bunny = c.ids["bunny"].clone();
    let mut details = c.store.videos().get(&bunny).await.unwrap().unwrap().details;
    details.privacy = Privacy::Private;
    c.store.videos().set_details(&bunny, details).await.unwrap();
    c.store.videos().delete(&c.ids["go"]).await.unwrap();
    let live = c.store.broadcasts().page("rustconf", &oxcast_store::PageRequest::default()).await.unwrap();
    c.store.broadcasts().end(&live.items[0].id).await.unwrap();
    while catch_up_once(&followed, &c.store).await.unwrap() > 0 {}

    let names = |text: &str| video_names(&c, &followed, &find(&followed, text));
    assert_eq!(names("spaghetti "), ["carbonara"]);
    assert!(names("big buck ").is_empty(), "private now");
    assert!(!names("rust ").contains(&"go"), "deleted");
    let streams = followed.search(&find(&followed, "rust")).unwrap().streams;
    assert!(streams.iter().all(|s| !s.item.live), "rustconf is off air");
    let again = built(&c).await;
    assert_eq!(snapshot(&followed), snapshot(&again), "still equal to a rebuild");
}
