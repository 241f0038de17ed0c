vcl 4.1;

# oxcast behind Varnish: live LL-HLS (/live/) and video on demand (/vod/) cached, everything
# else (the API, pages, tus uploads, chat websockets) passed through. See README.md here.
#
#   varnishd -a :6081 -f /etc/varnish/oxcast.vcl -s malloc,1g -p feature=+http2
#
# tests/cdn_cache.rs runs this file as it is, with only the backend's port changed.

backend oxcast {
    .host = "127.0.0.1";
    .port = "8080";
    .connect_timeout = 2s;
    # oxcast holds a blocking playlist reload or a preload-hinted part until the part exists,
    # at most three target durations (then 503): never give up before it does.
    .first_byte_timeout = 20s;
    .between_bytes_timeout = 20s;
}

sub vcl_recv {
    if (req.http.Upgrade ~ "(?i)websocket") {
        return (pipe);
    }
    if (req.url ~ "^/(live|vod)/" && (req.method == "GET" || req.method == "HEAD")) {
        # Media answers are the same for every viewer unless oxcast marks them `private` (what
        # it opened because of who asked: an owner's session or token), and those are never
        # stored (vcl_backend_response). So, unlike in the built-in VCL, a Cookie or an
        # Authorization header does not send the request past the cache: the embed page of a
        # signed-in viewer still shares the cached parts. Requests for the same URL wait for
        # the one that went to oxcast (Varnish's waiting list wakes them as its answer comes):
        # that collapsing is what keeps a thousand blocking reloads down to one.
        return (hash);
    }
    return (pass);
}

sub vcl_pipe {
    if (req.http.Upgrade) {
        set bereq.http.Upgrade = req.http.Upgrade;
        set bereq.http.Connection = req.http.Connection;
    }
}

sub vcl_backend_response {
    if (bereq.url ~ "^/(live|vod)/") {
        if (beresp.status >= 400 || beresp.http.Cache-Control ~ "(?i)(no-store|no-cache|private)") {
            # Not stored (errors, the not-yet-final playlists of a video being processed,
            # answers for one viewer). The built-in VCL would also stop collapsing requests for
            # the URL for two minutes; one second is enough.
            set beresp.uncacheable = true;
            set beresp.ttl = 1s;
            return (deliver);
        }
        # Fresh for oxcast's max-age and not a moment longer: a live playlist served stale
        # (the default grace is 10 s) would hold its viewers seconds behind the edge.
        set beresp.grace = 0s;
        return (deliver);
    }
}

sub vcl_deliver {
    # For people and tests looking at the headers: did this answer come from the cache?
    if (obj.uncacheable) {
        set resp.http.X-Cache = "PASS";
    } elsif (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
