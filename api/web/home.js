// The home page: streams on air, what this viewer left before the end, their feed's personal
// part (watched together with and like what they watched), what is trending, and the newest
// videos. The viewer id is the one the video page keeps.
(function () {
  "use strict";
  var WHY = { watched_together: "Watched together with what you watched", similar: "Like what you watched",
    trending: "Trending", live_now: "Live now" };
  var viewer = null;
  try { viewer = localStorage.getItem("oxcast_viewer"); } catch (e) {}
  var q = viewer ? "viewer=" + encodeURIComponent(viewer) : "";

  function clock(s) {
    s = Math.round(s || 0);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + r : m + ":" + r;
  }
  function card(item) {
    var a = document.createElement("a");
    a.href = item.url;
    if (item.reason) a.dataset.reason = item.reason;
    var thumb = document.createElement("div");
    thumb.className = "thumb";
    if (item.poster_url) thumb.style.backgroundImage = "url('" + item.poster_url.replace(/'/g, "%27") + "')";
    if (item.kind === "stream") {
      var badge = document.createElement("span");
      badge.className = "badge live";
      badge.textContent = "Live";
      thumb.append(badge);
    }
    if (item.position_seconds && item.duration_seconds) {
      var bar = document.createElement("progress");
      bar.max = item.duration_seconds;
      bar.value = item.position_seconds;
      bar.setAttribute("aria-label", "Watched " + clock(item.position_seconds) + " of " + clock(item.duration_seconds));
      thumb.append(bar);
    }
    var title = document.createElement("div");
    title.className = "t";
    title.textContent = item.title || item.id;
    var why = document.createElement("div");
    why.className = "why";
    var bits = [item.owner_name];
    if (item.duration_seconds) bits.push(clock(item.duration_seconds));
    // Live and trending items sit on shelves named for that.
    if (item.reason && item.reason !== "live_now" && item.reason !== "trending") bits.push(WHY[item.reason] || item.reason);
    why.textContent = bits.filter(Boolean).join(" · ");
    a.append(thumb, title, why);
    var li = document.createElement("li");
    li.append(a);
    return li;
  }
  function fill(id, items) {
    var list = document.getElementById(id);
    list.replaceChildren.apply(list, items.map(function (item) {
      var li = card(item);
      li.firstChild.dataset.shelf = id;
      return li;
    }));
    document.getElementById(id + "-shelf").hidden = items.length === 0;
  }
  function get(path) {
    return fetch(path, { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { items: [] }; });
  }
  Promise.all([
    get("/api/feed?limit=24" + (q ? "&" + q : "")),
    get("/api/continue-watching?limit=8" + (q ? "&" + q : "")),
    get("/api/search?type=video&sort=newest&limit=12"),
    get("/api/trending?limit=12"),
  ]).then(function (r) {
    var feed = r[0].items;
    fill("live", feed.filter(function (i) { return i.reason === "live_now"; }));
    // Trending has its own shelf: "For you" is what the viewer's history brought.
    fill("foryou", feed.filter(function (i) { return i.reason !== "live_now" && i.reason !== "trending"; }));
    fill("trending", r[3].items);
    fill("continue", r[1].items);
    fill("newest", r[2].videos.items.map(function (v) {
      return { kind: "video", id: v.id, title: v.title, owner_name: v.owner_name, duration_seconds: v.duration_seconds,
        url: v.page_url, poster_url: v.poster_url };
    }));
    var any = feed.length + r[1].items.length + r[2].videos.items.length + r[3].items.length;
    document.getElementById("status").textContent = any ? "" : "Nothing to watch yet. Upload a video from the studio.";
  }).catch(function (e) { document.getElementById("status").textContent = "Could not load: " + e.message; });
})();
