//! The job queue: leases, heartbeats, retries, reaping, concurrent claims.

#![allow(clippy::unwrap_used)]

use crate::{FailOutcome, JobState, Store, TestDatabase};

use super::LEASE;

on_both_dialects!(
    jobs_are_leased_heartbeaten_and_completed,
    a_dead_workers_job_is_taken_again_and_reaped_when_out_of_attempts,
    failed_attempts_back_off_then_fail_for_good_with_the_reason,
    progress_is_timed_for_stall_detection,
);

async fn jobs_are_leased_heartbeaten_and_completed(s: Store) {
    let job = s.jobs().enqueue("process_video", r#"{"video":"v1"}"#, 3).await.unwrap();
    assert_eq!((job.state, job.attempts), (JobState::Queued, 0));
    assert!(s.jobs().claim("webhook", "w1", LEASE).await.unwrap().is_none(), "kinds are separate");
    let claimed = s.jobs().claim("process_video", "w1", LEASE).await.unwrap().unwrap();
    assert_eq!((claimed.id.as_str(), claimed.state, claimed.attempts), (job.id.as_str(), JobState::Running, 1));
    assert_eq!(claimed.payload, r#"{"video":"v1"}"#);
    assert!(s.jobs().claim("process_video", "w2", LEASE).await.unwrap().is_none(), "leased: nobody else gets it");
    assert!(s.jobs().heartbeat(&job.id, "w1", LEASE, 0.4).await.unwrap());
    assert!(s.jobs().heartbeat(&job.id, "w1", LEASE, 0.2).await.unwrap());
    assert_eq!(s.jobs().get(&job.id).await.unwrap().unwrap().progress, 0.4, "progress only moves forward");
    assert!(!s.jobs().heartbeat(&job.id, "w2", LEASE, 0.9).await.unwrap(), "not w2's lease");
    assert!(s.jobs().complete(&job.id, "w1").await.unwrap());
    let done = s.jobs().get(&job.id).await.unwrap().unwrap();
    assert_eq!((done.state, done.progress), (JobState::Done, 1.0));
    assert!(!s.jobs().complete(&job.id, "w1").await.unwrap(), "only once");
}

async fn a_dead_workers_job_is_taken_again_and_reaped_when_out_of_attempts(s: Store) {
    let job = s.jobs().enqueue("process_video", "{}", 2).await.unwrap();
    // w1 claims with a lease that is over at once: it "died".
    s.jobs().claim("process_video", "w1", std::time::Duration::ZERO).await.unwrap().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let again = s.jobs().claim("process_video", "w2", std::time::Duration::ZERO).await.unwrap().unwrap();
    assert_eq!((again.id.as_str(), again.attempts), (job.id.as_str(), 2));
    assert!(!s.jobs().heartbeat(&job.id, "w1", LEASE, 0.5).await.unwrap(), "w1 lost it to w2");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    // w2 died too: no attempts left, so nobody claims it and the reaper fails it with a reason.
    assert!(s.jobs().claim("process_video", "w3", LEASE).await.unwrap().is_none());
    let reaped = s.jobs().reap("process_video").await.unwrap();
    assert_eq!(reaped.len(), 1);
    assert_eq!(
        (reaped[0].state, reaped[0].last_error.as_deref()),
        (JobState::Failed, Some("the worker stopped responding"))
    );
    assert!(s.jobs().reap("process_video").await.unwrap().is_empty());
}

async fn failed_attempts_back_off_then_fail_for_good_with_the_reason(s: Store) {
    let job = s.jobs().enqueue("process_video", "{}", 2).await.unwrap();
    s.jobs().claim("process_video", "w1", LEASE).await.unwrap().unwrap();
    let before = oxcast_media::clock::unix_millis() as i64;
    let outcome = s.jobs().fail(&job.id, "w1", "decoder crashed", true).await.unwrap();
    let FailOutcome::RetryAt(at) = outcome else { panic!("{outcome:?}") };
    assert!(at >= before + 4_900, "backs off about 5 s: {}", at - before);
    let queued = s.jobs().get(&job.id).await.unwrap().unwrap();
    assert_eq!((queued.state, queued.last_error.as_deref()), (JobState::Queued, Some("decoder crashed")));
    assert!(s.jobs().claim("process_video", "w1", LEASE).await.unwrap().is_none(), "not before its time");
    // Time passes (the test moves the job's time instead of sleeping 5 s).
    sqlx::query("UPDATE jobs SET run_at = 0 WHERE id = $1").bind(&job.id).execute(&s.pool).await.unwrap();
    s.jobs().claim("process_video", "w1", LEASE).await.unwrap().unwrap();
    let outcome = s.jobs().fail(&job.id, "w1", "no video or audio stream", true).await.unwrap();
    assert_eq!(outcome, FailOutcome::Failed, "two attempts used");
    let failed = s.jobs().get(&job.id).await.unwrap().unwrap();
    assert_eq!((failed.state, failed.last_error.as_deref()), (JobState::Failed, Some("no video or audio stream")));
    assert_eq!(s.jobs().fail(&job.id, "w1", "again", true).await.unwrap(), FailOutcome::LeaseLost);
    assert_eq!(crate::backoff(1), std::time::Duration::from_secs(5));
    assert_eq!(crate::backoff(3), std::time::Duration::from_secs(20));
    assert_eq!(crate::backoff(40), crate::jobs::MAX_BACKOFF);
}

async fn progress_is_timed_for_stall_detection(s: Store) {
    let job = s.jobs().enqueue("process_video", "{}", 1).await.unwrap();
    let claimed = s.jobs().claim("process_video", "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, job.id);
    assert!(s.jobs().heartbeat(&job.id, "w1", LEASE, 0.1).await.unwrap());
    assert!(s.jobs().progress_at(&job.id).await.unwrap().is_some());
}

/// Many workers at once on PostgreSQL: every job is taken exactly once.
#[tokio::test]
async fn concurrent_claims_on_postgres_take_each_job_once() {
    let db = TestDatabase::postgres().await;
    let store = Store::open(db.url()).await.unwrap();
    for _ in 0..30 {
        store.jobs().enqueue("process_video", "{}", 1).await.unwrap();
    }
    let mut workers = Vec::new();
    for w in 0..6 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(job) = store.jobs().claim("process_video", &format!("w{w}"), LEASE).await.unwrap() {
                mine.push(job.id);
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let unique: std::collections::BTreeSet<_> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (30, 30));
    store.close().await;
}
