// The video page's "Up next": the recommender's list (GET /api/videos/ID/up-next), each with
// why it is there. Embeds do not show it.
(function () {
  "use strict";
  var page = window.oxcastVideo;
  var list = document.getElementById("up-next");
  if (!page || !list || document.body.classList.contains("embed")) return;
  var WHY = { watched_together: "Watched together with this", similar: "Like this one", trending: "Trending", live_now: "Live now" };
  function clock(s) {
    s = Math.round(s || 0);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }
  fetch("/api/videos/" + encodeURIComponent(page.state().id) + "/up-next?limit=8", { credentials: "same-origin" })
    .then(function (r) { return r.ok ? r.json() : { items: [] }; })
    .then(function (data) {
      data.items.forEach(function (item) {
        var li = document.createElement("li");
        var a = document.createElement("a");
        a.href = item.url;
        a.dataset.reason = item.reason;
        var thumb = document.createElement("div");
        thumb.className = "thumb";
        if (item.poster_url) thumb.style.backgroundImage = "url('" + item.poster_url.replace(/'/g, "%27") + "')";
        var title = document.createElement("div");
        title.className = "t";
        title.textContent = item.title || "Untitled video";
        var why = document.createElement("div");
        why.className = "why";
        why.textContent = [item.owner_name, item.duration_seconds ? clock(item.duration_seconds) : null, WHY[item.reason] || item.reason]
          .filter(Boolean).join(" · ");
        a.append(thumb, title, why);
        li.append(a);
        list.append(li);
      });
      document.getElementById("up-next-section").hidden = data.items.length === 0;
    })
    .catch(function () {});
})();
