//! Webhooks' storage: endpoints, and events recorded in the same transaction as the change they
//! report, with one delivery job per endpoint that wants them; the attempts log.

use crate::tests::owner;
use crate::{EventType, NewEndpoint, NewVideo, PageRequest, Processed, Store, VideoDetails};

on_both_dialects!(endpoints_are_kept_per_owner, changes_record_their_event_once_with_a_job_per_endpoint);

async fn endpoints_are_kept_per_owner(s: Store) {
    let owner = owner(&s).await;
    let hooks = s.webhooks();
    let all = hooks
        .create(NewEndpoint { owner_id: &owner, url: "https://a.example/h", events: None, description: "a" })
        .await
        .unwrap();
    assert!(all.secret.starts_with("whsec_") && all.secret.len() > 30, "{}", all.secret);
    assert!(all.wants(EventType::BroadcastEnded) && all.events.is_none());
    let some = hooks
        .create(NewEndpoint {
            owner_id: &owner,
            url: "https://b.example/h",
            events: Some(vec![EventType::VideoReady]),
            description: "",
        })
        .await
        .unwrap();
    assert!(some.wants(EventType::VideoReady) && !some.wants(EventType::VideoCreated));
    assert!(some.wants(EventType::Test), "a test event goes wherever it is sent");
    let none = NewEndpoint { owner_id: &owner, url: "https://c.example", events: Some(vec![]), description: "" };
    assert!(hooks.create(none).await.is_err(), "an empty event list is refused");
    assert!(EventType::parse("video.deleted").is_err());

    let mut changed = hooks.get(&some.id).await.unwrap().unwrap();
    changed.enabled = false;
    changed.events = Some(vec![EventType::VideoFailed, EventType::StreamStarted]);
    assert!(hooks.update(&changed).await.unwrap());
    let back = hooks.get(&some.id).await.unwrap().unwrap();
    assert_eq!(back, changed);
    let page = hooks.page(Some(&owner), &PageRequest::default()).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(hooks.page(Some("u_nobody"), &PageRequest::default()).await.unwrap().items.is_empty());
    assert!(hooks.delete(&all.id).await.unwrap());
    assert!(hooks.get(&all.id).await.unwrap().is_none());
    assert!(!hooks.delete(&all.id).await.unwrap());
}

async fn delivery_jobs(s: &Store) -> Vec<String> {
    let mut found = Vec::new();
    while let Some(job) = s.jobs().claim(crate::DELIVERY_JOB, "test", crate::tests::LEASE).await.unwrap() {
        found.push(job.payload);
    }
    found
}

async fn changes_record_their_event_once_with_a_job_per_endpoint(s: Store) {
    let owner = owner(&s).await;
    let details = VideoDetails { title: "Nobody listens".into(), ..VideoDetails::default() };
    s.videos().create(NewVideo { owner_id: &owner, details, profile: None, upload_size: None }).await.unwrap();
    assert!(delivery_jobs(&s).await.is_empty(), "no endpoint: nothing is stored or queued");

    let hooks = s.webhooks();
    let all = hooks
        .create(NewEndpoint { owner_id: &owner, url: "https://a.example", events: None, description: "" })
        .await
        .unwrap();
    let videos_only = hooks
        .create(NewEndpoint {
            owner_id: &owner,
            url: "https://b.example",
            events: Some(vec![EventType::VideoCreated, EventType::VideoReady]),
            description: "",
        })
        .await
        .unwrap();
    let details = VideoDetails { title: "Hello".into(), ..VideoDetails::default() };
    let video =
        s.videos().create(NewVideo { owner_id: &owner, details, profile: None, upload_size: None }).await.unwrap();
    let jobs = delivery_jobs(&s).await;
    assert_eq!(jobs.len(), 2, "one job per endpoint: {jobs:?}");
    let event_id = serde_json::from_str::<serde_json::Value>(&jobs[0]).unwrap()["event"].as_str().unwrap().to_owned();
    for job in &jobs {
        let v: serde_json::Value = serde_json::from_str(job).unwrap();
        assert_eq!(v["event"], event_id.as_str(), "the same event for both");
    }
    let event = hooks.event(&event_id).await.unwrap().unwrap();
    assert_eq!(event.kind, "video.created");
    let body: serde_json::Value = serde_json::from_str(&event.payload).unwrap();
    assert_eq!((body["type"].as_str(), body["data"]["id"].as_str()), (Some("video.created"), Some(video.id.as_str())));
    assert_eq!(body["data"]["title"], "Hello");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));

    // A transition that does not happen records nothing; one that does, its event.
    assert!(!s.videos().set_ready(&video.id, &Processed::default()).await.unwrap(), "uploading → ready is refused");
    assert!(delivery_jobs(&s).await.is_empty());
    assert!(s.videos().set_failed(&video.id, "broken").await.unwrap());
    let jobs = delivery_jobs(&s).await;
    assert_eq!(jobs.len(), 1, "video.failed goes only where it is wanted: {jobs:?}");
    assert!(jobs[0].contains(&all.id));

    // Broadcasts: started at once, ended with its summary.
    let b = s.broadcasts().start("cam", Some(&owner), None).await.unwrap();
    assert_eq!(delivery_jobs(&s).await.len(), 1, "stream.started to the endpoint that wants everything");
    assert!(s.broadcasts().end(&b.id).await.unwrap());
    assert_eq!(delivery_jobs(&s).await.len(), 2, "stream.ended and broadcast.ended");
    assert!(!s.broadcasts().end(&b.id).await.unwrap());
    assert!(delivery_jobs(&s).await.is_empty(), "an end that already happened records nothing");

    // A test event goes to the endpoint it names only.
    let test = hooks.emit(&owner, EventType::Test, serde_json::json!({}), Some(&videos_only.id)).await.unwrap();
    let jobs = delivery_jobs(&s).await;
    assert!(test.is_some() && jobs.len() == 1 && jobs[0].contains(&videos_only.id), "{jobs:?}");

    // The attempts log, newest first, with the event's type.
    assert_eq!(hooks.record_attempt(&all.id, &event_id, 1000, 12, Some(503), Some("503"), false).await.unwrap(), 1);
    assert_eq!(hooks.record_attempt(&all.id, &event_id, 2000, 8, Some(200), None, true).await.unwrap(), 2);
    let log = hooks.attempts(&all.id, &PageRequest { limit: Some(1), cursor: None }).await.unwrap();
    assert_eq!(
        (log.items[0].attempt, log.items[0].delivered, log.items[0].event_type.as_str()),
        (2, true, "video.created")
    );
    let rest = hooks.attempts(&all.id, &PageRequest { limit: Some(5), cursor: log.next_cursor }).await.unwrap();
    assert_eq!((rest.items.len(), rest.items[0].status_code), (1, Some(503)));

    // Pruning forgets what is older than the cut, and nothing newer.
    let now = oxcast_media::clock::unix_seconds();
    assert_eq!(hooks.prune(now - 3600).await.unwrap().1, 2, "the two attempts of 1970 go");
    assert!(hooks.event(&event_id).await.unwrap().is_some(), "today's event stays");
    assert_eq!(hooks.prune(now + 1).await.unwrap().0, 6, "every event so far, when the cut is now");
    assert!(hooks.event(&event_id).await.unwrap().is_none());
}
