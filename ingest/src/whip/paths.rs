//! Where WHIP lives on the HTTP server: the endpoint a publisher POSTs its offer to and the
//! session resource it DELETEs. One definition, used by the routes, the REST API's URLs, the
//! banner and the tests.

/// axum route of the WHIP endpoint (`POST`).
pub(crate) const ENDPOINT_ROUTE: &str = "/whip/{name}";
/// axum route of a session resource (`DELETE`, `PATCH`).
pub(crate) const SESSION_ROUTE: &str = "/whip/{name}/{id}";

/// Path of a stream's WHIP endpoint, e.g. `/whip/main` (OBS's "Server" is the full URL).
pub fn endpoint_path(stream: &str) -> String {
    format!("/whip/{stream}")
}

/// Path of one session resource (the `Location` of a 201).
pub fn session_path(stream: &str, session_id: &str) -> String {
    format!("{}/{session_id}", endpoint_path(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_the_routes() {
        assert_eq!(endpoint_path("main"), ENDPOINT_ROUTE.replace("{name}", "main"));
        assert_eq!(session_path("main", "ab12"), SESSION_ROUTE.replace("{name}", "main").replace("{id}", "ab12"));
    }
}
