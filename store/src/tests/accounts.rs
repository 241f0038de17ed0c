//! Users, API tokens and sessions.

#![allow(clippy::unwrap_used)]

use crate::{NewUser, PageRequest, Role, Scope, Scopes, Store, StoreError};

on_both_dialects!(
    users_log_in_with_argon2id_passwords_and_names_are_unique,
    the_first_admin_adopts_streams_without_an_owner,
    api_tokens_are_scoped_hashed_listed_and_revoked_at_once,
    sessions_carry_a_csrf_token_and_end_on_logout_or_expiry,
);

async fn users_log_in_with_argon2id_passwords_and_names_are_unique(s: Store) {
    let ann = s
        .users()
        .create(NewUser {
            name: " Ann ",
            display_name: Some("Ann B."),
            password: Some("correct horse"),
            role: Role::Creator,
        })
        .await
        .unwrap();
    assert_eq!((ann.name.as_str(), ann.display_name.as_str(), ann.has_password), ("ann", "Ann B.", true));
    assert!(ann.id.starts_with("u_") && ann.id.len() == 18);
    let taken = s.users().create(NewUser { name: "ANN", display_name: None, password: None, role: Role::Admin }).await;
    assert!(matches!(taken, Err(StoreError::UserTaken(_))), "{taken:?}");
    let short = s
        .users()
        .create(NewUser { name: "bob", display_name: None, password: Some("short"), role: Role::Creator })
        .await;
    assert!(matches!(short, Err(StoreError::Invalid(_))), "{short:?}");
    let spoof = s
        .users()
        .create(NewUser { name: "cy", display_name: Some("C\u{202e}y"), password: None, role: Role::Creator })
        .await;
    assert!(matches!(spoof, Err(StoreError::InvalidDisplayName(_))), "{spoof:?}");

    assert_eq!(s.users().verify_password("Ann", "correct horse").await.unwrap().map(|u| u.id), Some(ann.id.clone()));
    assert_eq!(s.users().verify_password("ann", "wrong horse!").await.unwrap(), None);
    assert_eq!(s.users().verify_password("nobody", "correct horse").await.unwrap(), None);
    // The stored hash is argon2id, never the password.
    let stored: String = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
        .bind(&ann.id)
        .fetch_one(&s.pool)
        .await
        .map(|r| sqlx::Row::get(&r, 0))
        .unwrap();
    assert!(stored.starts_with("$argon2id$") && !stored.contains("correct horse"), "{stored}");

    assert!(s.users().set_password(&ann.id, None).await.unwrap());
    assert_eq!(s.users().verify_password("ann", "correct horse").await.unwrap(), None);
    assert!(!s.users().by_id(&ann.id).await.unwrap().unwrap().has_password);
}

async fn the_first_admin_adopts_streams_without_an_owner(s: Store) {
    // A stream from before accounts existed has no owner.
    sqlx::query("INSERT INTO streams (name, key_hash, created_at) VALUES ('old', 'h', 1)")
        .execute(&s.pool)
        .await
        .unwrap();
    assert_eq!(s.users().first_admin().await.unwrap(), None);
    let admin = s.users().ensure_first_admin().await.unwrap();
    assert_eq!((admin.name.as_str(), admin.role), ("admin", Role::Admin));
    assert_eq!(s.streams().get("old").await.unwrap().unwrap().owner_id.as_deref(), Some(admin.id.as_str()));
    // Idempotent: a second start finds the same admin.
    assert_eq!(s.users().ensure_first_admin().await.unwrap().id, admin.id);
}

async fn api_tokens_are_scoped_hashed_listed_and_revoked_at_once(s: Store) {
    let ann = s
        .users()
        .create(NewUser { name: "ann", display_name: None, password: None, role: Role::Creator })
        .await
        .unwrap();
    let scopes = Scopes::parse(["streams:read", "streams:write"]).unwrap();
    let (token, secret) = s.api_tokens().create(&ann, "ci", &scopes).await.unwrap();
    assert!(secret.as_str().starts_with("oxt_") && token.id.starts_with("tok_"));
    assert_eq!(token.last_used_at, None);
    let (found, user) = s.api_tokens().authenticate(secret.as_str()).await.unwrap().unwrap();
    assert_eq!((found.id.as_str(), user.id.as_str()), (token.id.as_str(), ann.id.as_str()));
    assert!(found.scopes.contains(Scope::StreamsWrite) && !found.scopes.contains(Scope::VideosWrite));
    assert!(found.last_used_at.is_some(), "use is recorded");
    let listed = s.api_tokens().list(&ann.id, &PageRequest::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].last_used_at, found.last_used_at);
    let stored: i64 = sqlx::query("SELECT COUNT(*) FROM api_tokens WHERE token_hash = $1")
        .bind(secret.as_str())
        .fetch_one(&s.pool)
        .await
        .map(|r| sqlx::Row::get(&r, 0))
        .unwrap();
    assert_eq!(stored, 0, "stored hashed, not in clear");

    // Creators cannot hold admin; tokens need a scope and a sane name.
    let admin_scope = Scopes::parse(["admin"]).unwrap();
    assert!(matches!(s.api_tokens().create(&ann, "x", &admin_scope).await, Err(StoreError::Invalid(_))));
    assert!(matches!(s.api_tokens().create(&ann, "x", &Scopes::default()).await, Err(StoreError::Invalid(_))));
    assert!(matches!(s.api_tokens().create(&ann, " ", &scopes).await, Err(StoreError::Invalid(_))));

    // Only the owner revokes, and it works at once.
    let bob = s
        .users()
        .create(NewUser { name: "bob", display_name: None, password: None, role: Role::Creator })
        .await
        .unwrap();
    assert!(!s.api_tokens().revoke(&bob.id, &token.id).await.unwrap());
    assert!(s.api_tokens().revoke(&ann.id, &token.id).await.unwrap());
    assert!(s.api_tokens().authenticate(secret.as_str()).await.unwrap().is_none());
}

async fn sessions_carry_a_csrf_token_and_end_on_logout_or_expiry(s: Store) {
    let ann = s
        .users()
        .create(NewUser { name: "ann", display_name: None, password: Some("password1"), role: Role::Creator })
        .await
        .unwrap();
    let (cookie, session) = s.sessions().create(&ann, std::time::Duration::from_secs(3600)).await.unwrap();
    assert!(cookie.as_str().starts_with("ses_") && session.csrf_token.starts_with("csrf_"));
    let (found, user) = s.sessions().authenticate(cookie.as_str()).await.unwrap().unwrap();
    assert_eq!((found.csrf_token.as_str(), user.id.as_str()), (session.csrf_token.as_str(), ann.id.as_str()));
    s.sessions().end(cookie.as_str()).await.unwrap();
    assert!(s.sessions().authenticate(cookie.as_str()).await.unwrap().is_none());
    let (expired, _) = s.sessions().create(&ann, std::time::Duration::ZERO).await.unwrap();
    assert!(s.sessions().authenticate(expired.as_str()).await.unwrap().is_none());
    // A password reset ends every session of the user.
    let (other, _) = s.sessions().create(&ann, std::time::Duration::from_secs(3600)).await.unwrap();
    assert!(s.users().set_password(&ann.id, Some("a new password")).await.unwrap());
    assert!(s.sessions().authenticate(other.as_str()).await.unwrap().is_none());
}
