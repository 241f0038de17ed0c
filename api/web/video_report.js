// The video page's reports and likes. While the video plays, the seconds actually played
// (timeupdate steps of at most 1.5 s, so seeks are not watching) are sent every 5 s to
// POST /api/videos/ID/events, and whatever is left when playback ends or the page hides goes
// with sendBeacon. The viewer id stays in localStorage (one per browser), the session id is one
// per page view. The like buttons show the counts; a signed-in viewer can rate, others are sent
// to the login.
(function () {
  "use strict";
  var page = window.oxcastVideo;
  var video = document.getElementById("video");
  if (!page || !video) return;
  var state = page.state();
  var query = state.events.indexOf("?") >= 0 ? state.events.slice(state.events.indexOf("?")) : "";
  var url = "/api/videos/" + encodeURIComponent(state.id) + "/events" + query;

  function randomId(prefix) {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return prefix + Array.prototype.map.call(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }
  var viewer;
  try {
    viewer = localStorage.getItem("oxcast_viewer");
    if (!viewer) { viewer = randomId("vw_"); localStorage.setItem("oxcast_viewer", viewer); }
  } catch (e) { viewer = randomId("vw_"); }
  var session = randomId("ps_");

  var queue = [], watched = 0, lastTime = null, started = false, timer = null;
  function push(type) {
    queue.push({ type: type, position: video.currentTime || 0, watched: type === "start" ? 0 : watched });
    if (type !== "start") watched = 0;
    if (queue.length > 20) queue.splice(0, queue.length - 20);
  }
  function body() { var b = JSON.stringify({ viewer: viewer, session: session, events: queue }); queue = []; return b; }
  function send() {
    if (!queue.length) return;
    fetch(url, { method: "POST", credentials: "same-origin", keepalive: true,
      headers: { "content-type": "application/json" }, body: body() }).catch(function () {});
  }
  function beacon() {
    if (!started) return;
    if (watched > 0) push("end");
    if (!queue.length) return;
    var data = new Blob([body()], { type: "application/json" });
    if (!(navigator.sendBeacon && navigator.sendBeacon(url, data))) send();
  }

  video.addEventListener("playing", function () {
    if (!started) { started = true; push("start"); send(); }
    lastTime = video.currentTime;
    if (!timer) timer = setInterval(function () { if (watched > 0) { push("heartbeat"); send(); } }, 5000);
  });
  video.addEventListener("timeupdate", function () {
    if (video.paused || video.seeking || lastTime === null) { lastTime = video.currentTime; return; }
    var step = video.currentTime - lastTime;
    if (step > 0 && step <= 1.5) watched += step;
    lastTime = video.currentTime;
  });
  video.addEventListener("seeking", function () { lastTime = null; });
  video.addEventListener("ended", function () { if (watched > 0) push("end"); send(); });
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") beacon(); });
  window.addEventListener("pagehide", beacon);

  // Likes.
  var box = document.getElementById("rating");
  if (!box || document.body.classList.contains("embed")) return;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var like = document.getElementById("like"), dislike = document.getElementById("dislike");
  var note = document.getElementById("rating-note");
  var mine = null;
  function showRating(r) {
    document.getElementById("likes").textContent = r.likes;
    document.getElementById("dislikes").textContent = r.dislikes;
    mine = r.mine;
    like.setAttribute("aria-pressed", String(mine === "like"));
    dislike.setAttribute("aria-pressed", String(mine === "dislike"));
    box.hidden = false;
  }
  function rate(choice) {
    if (!csrf) { location.assign("/login?next=" + encodeURIComponent(location.pathname)); return; }
    var next = mine === choice ? null : choice;
    fetch("/api/videos/" + encodeURIComponent(state.id) + "/rating", {
      method: "PUT", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify({ rating: next }),
    }).then(function (r) { return r.json().then(function (d) { if (!r.ok) throw new Error(d.detail || r.status); return d; }); })
      .then(function (d) { showRating(d); note.textContent = next ? "Thanks!" : "Rating removed"; })
      .catch(function (e) { note.textContent = "Could not rate: " + e.message; });
  }
  like.addEventListener("click", function () { rate("like"); });
  dislike.addEventListener("click", function () { rate("dislike"); });
  fetch("/api/videos/" + encodeURIComponent(state.id) + "/rating", { credentials: "same-origin" })
    .then(function (r) { return r.ok ? r.json() : null; }).then(function (r) { if (r) showRating(r); });
})();
