//! Named leases: taken once while held, taken over on demand, renewed and released only by the
//! generation that holds them, free again at expiry; many nodes racing get one winner.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::{Store, TestDatabase};

use super::LEASE;

on_both_dialects!(
    a_held_lease_is_refused_to_others_until_released,
    a_take_over_moves_the_lease_and_the_old_holder_can_no_longer_renew,
    an_expired_lease_is_free_and_not_current,
);

async fn a_held_lease_is_refused_to_others_until_released(s: Store) {
    let l = s.leases();
    let first = l.try_acquire("upload:v1", "a", None, LEASE).await.unwrap().unwrap();
    assert_eq!(l.try_acquire("upload:v1", "b", None, LEASE).await.unwrap(), None, "held: refused");
    assert_eq!(l.try_acquire("upload:v1", "a", None, LEASE).await.unwrap(), None, "even to its holder");
    assert!(l.try_acquire("upload:v2", "b", None, LEASE).await.unwrap().is_some(), "other names are separate");
    assert!(!l.release("upload:v1", "b", first).await.unwrap(), "b cannot release a's lease");
    assert!(l.release("upload:v1", "a", first).await.unwrap());
    assert!(!l.release("upload:v1", "a", first).await.unwrap(), "only once");
    assert!(l.current("upload:v1").await.unwrap().is_none());
    assert!(l.try_acquire("upload:v1", "b", None, LEASE).await.unwrap().is_some(), "free again");
}

async fn a_take_over_moves_the_lease_and_the_old_holder_can_no_longer_renew(s: Store) {
    let l = s.leases();
    let a = l.take_over("stream:main", "node-a", Some("http://a:8080"), LEASE).await.unwrap();
    assert!(l.renew("stream:main", "node-a", a, LEASE).await.unwrap());
    let b = l.take_over("stream:main", "node-b", Some("http://b:8080"), LEASE).await.unwrap();
    assert!(b > a, "every change of hand is a new generation");
    assert!(!l.renew("stream:main", "node-a", a, LEASE).await.unwrap(), "a lost it");
    assert!(!l.release("stream:main", "node-a", a).await.unwrap(), "and cannot free b's");
    let now = l.current("stream:main").await.unwrap().unwrap();
    assert_eq!((now.holder.as_str(), now.node_url.as_deref(), now.generation), ("node-b", Some("http://b:8080"), b));
    let again = l.take_over("stream:main", "node-b", Some("http://b:8080"), LEASE).await.unwrap();
    assert!(again > b, "the same node taking it again (a reconnect) is a new generation too");
    assert!(!l.renew("stream:main", "node-b", b, LEASE).await.unwrap(), "the old generation is over");
}

async fn an_expired_lease_is_free_and_not_current(s: Store) {
    let l = s.leases();
    let short = Duration::from_millis(150);
    let g = l.try_acquire("upload:v9", "dead-node", None, short).await.unwrap().unwrap();
    assert!(l.current("upload:v9").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(l.current("upload:v9").await.unwrap().is_none(), "expired");
    let next = l.try_acquire("upload:v9", "b", None, LEASE).await.unwrap().unwrap();
    assert!(next > g);
    assert!(!l.renew("upload:v9", "dead-node", g, LEASE).await.unwrap(), "the dead holder cannot come back");
}

/// Nodes racing on PostgreSQL for a free lease: exactly one wins.
#[tokio::test]
async fn racing_nodes_on_postgres_get_one_winner() {
    let db = TestDatabase::postgres().await;
    let store = Store::open(db.url()).await.unwrap();
    for round in 0..10 {
        let name = format!("upload:race{round}");
        let mut racers = Vec::new();
        for n in 0..8 {
            let (store, name) = (store.clone(), name.clone());
            racers.push(tokio::spawn(async move {
                store.leases().try_acquire(&name, &format!("n{n}"), None, LEASE).await.unwrap()
            }));
        }
        let mut winners = 0;
        for r in racers {
            winners += usize::from(r.await.unwrap().is_some());
        }
        assert_eq!(winners, 1, "round {round}");
    }
    store.close().await;
}
