// The search page: results follow the box as you type (and the filters as you change them),
// suggestions open under the box (a combobox: arrows, Enter, Escape), "More results" pages on,
// and the URL keeps the search so it can be shared or reloaded. No framework.
(function () {
  "use strict";
  const form = document.getElementById("search");
  const q = document.getElementById("q");
  const list = document.getElementById("suggestions");
  const status = document.getElementById("status");
  const videos = document.getElementById("videos");
  const streams = document.getElementById("streams");
  const streamsSection = document.getElementById("streams-section");
  const more = document.getElementById("more");
  const fields = ["type", "duration", "published", "category", "language", "sort"].map((id) => document.getElementById(id));
  let generation = 0; // answers to older requests are dropped
  let cursor = null;
  let timer = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "html") node.innerHTML = v; // server-escaped: only <mark> is markup
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function clock(seconds) {
    const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + r : m + ":" + r;
  }

  // The API query of what the form says now.
  function params() {
    const p = new URLSearchParams();
    if (q.value.trim()) p.set("q", q.value);
    const get = (id) => document.getElementById(id).value.trim();
    if (get("type") !== "all") p.set("type", get("type"));
    if (get("sort") !== "relevance") p.set("sort", get("sort"));
    if (get("category")) p.set("category", get("category"));
    if (get("language")) p.set("language", get("language"));
    const duration = get("duration");
    if (duration) {
      const [min, max] = duration.split("-");
      if (min) p.set("min_duration", min);
      if (max) p.set("max_duration", max);
    }
    const days = get("published");
    if (days) p.set("published_after", String(Math.floor(Date.now() / 1000) - Number(days) * 86400));
    return p;
  }

  // The page's own URL keeps the form (q and the filters as chosen, not as sent).
  function remember() {
    const p = new URLSearchParams();
    if (q.value) p.set("q", q.value);
    for (const f of fields) if (f.value && f.value !== f.options?.[0]?.value) p.set(f.id, f.value);
    history.replaceState(null, "", p.toString() ? "?" + p : location.pathname);
  }

  function restore() {
    const p = new URLSearchParams(location.search);
    q.value = p.get("q") || "";
    for (const f of fields) if (p.has(f.id)) f.value = p.get(f.id);
  }

  function videoItem(v) {
    const thumb = el("a", { class: "thumb", href: v.page_url, tabindex: "-1", "aria-hidden": "true",
      style: v.poster_url ? "background-image:url('" + v.poster_url.replace(/'/g, "%27") + "')" : null },
      el("span", {}, clock(v.duration_seconds)));
    const meta = [v.owner_name, new Date(v.published_at).toLocaleDateString(), v.views + (v.views === 1 ? " view" : " views")];
    if (v.category) meta.push(v.category);
    return el("li", {}, thumb, el("div", {},
      el("h3", {}, el("a", { href: v.page_url, html: v.title_html || "Untitled video" })),
      el("p", { class: "muted" }, meta.filter(Boolean).join(" · ")),
      v.description_html ? el("p", { html: v.description_html }) : null));
  }

  function streamItem(s) {
    return el("li", {}, el("div", {},
      el("h3", {}, s.live ? el("span", { class: "badge live" }, "Live") : null, s.live ? " " : null,
        el("a", { href: s.watch_url, html: s.title_html || s.name })),
      el("p", { class: "muted" }, [s.owner_name, s.category, "/" + s.name].filter(Boolean).join(" · ")),
      s.description_html ? el("p", { html: s.description_html }) : null));
  }

  async function run(append) {
    const mine = ++generation;
    const p = params();
    if (append && cursor) p.set("cursor", cursor);
    status.textContent = "Searching…";
    let data;
    try {
      const res = await fetch("/api/search?" + p, { credentials: "same-origin", headers: { accept: "application/json" } });
      data = await res.json();
      if (!res.ok) throw new Error(data.detail || "HTTP " + res.status);
    } catch (e) {
      if (mine === generation) { status.textContent = "Search failed: " + e.message; status.className = "error"; }
      return;
    }
    if (mine !== generation) return;
    status.className = "muted";
    if (!append) {
      videos.replaceChildren();
      streams.replaceChildren(...data.streams.map(streamItem));
      streamsSection.hidden = data.streams.length === 0;
    }
    videos.append(...data.videos.items.map(videoItem));
    cursor = data.videos.next_cursor;
    more.hidden = !cursor;
    const n = videos.children.length, live = data.streams.filter((s) => s.live).length;
    status.textContent = (n === 0 && data.streams.length === 0) ? "Nothing found." :
      n + (cursor ? "+" : "") + (n === 1 ? " video" : " videos") +
      (append ? "" : ", " + data.streams.length + (data.streams.length === 1 ? " stream" : " streams") + (live ? " (" + live + " live)" : ""));
  }

  // Suggestions: a listbox under the box.
  let active = -1;
  function closeList() { list.hidden = true; q.setAttribute("aria-expanded", "false"); q.removeAttribute("aria-activedescendant"); active = -1; }
  function mark(i) {
    const items = [...list.children];
    items.forEach((li, j) => li.setAttribute("aria-selected", String(j === i)));
    active = i;
    if (items[i]) q.setAttribute("aria-activedescendant", items[i].id); else q.removeAttribute("aria-activedescendant");
  }
  async function suggest() {
    const text = q.value;
    if (!text.trim()) { closeList(); return; }
    const mine = generation;
    const res = await fetch("/api/search/suggest?q=" + encodeURIComponent(text), { credentials: "same-origin" }).catch(() => null);
    if (!res || !res.ok || mine !== generation || text !== q.value) return;
    const data = await res.json();
    list.replaceChildren(...data.items.map((s, i) => {
      const li = el("li", { id: "suggestion-" + i, role: "option", "aria-selected": "false", "data-url": s.url },
        s.kind === "stream" ? el("span", { class: "badge" }, "Stream") : null, s.kind === "stream" ? " " : null, s.text);
      li.addEventListener("mousedown", (e) => { e.preventDefault(); location.assign(s.url); });
      return li;
    }));
    list.hidden = data.items.length === 0;
    q.setAttribute("aria-expanded", String(!list.hidden));
    active = -1;
  }

  q.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { remember(); run(false); suggest(); }, 150);
  });
  q.addEventListener("keydown", (e) => {
    const n = list.children.length;
    if (e.key === "ArrowDown" && n) { e.preventDefault(); list.hidden = false; q.setAttribute("aria-expanded", "true"); mark((active + 1) % n); }
    else if (e.key === "ArrowUp" && n) { e.preventDefault(); mark((active - 1 + n) % n); }
    // Escape closes the suggestions; with none open, the box's own Escape clears it.
    else if (e.key === "Escape" && !list.hidden) { e.preventDefault(); closeList(); }
    else if (e.key === "Enter" && active >= 0 && !list.hidden) { e.preventDefault(); location.assign(list.children[active].dataset.url); }
  });
  q.addEventListener("blur", () => setTimeout(closeList, 100));
  form.addEventListener("submit", (e) => { e.preventDefault(); closeList(); remember(); run(false); });
  for (const f of fields) f.addEventListener("change", () => { remember(); run(false); });
  for (const f of ["category", "language"]) document.getElementById(f).addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { remember(); run(false); }, 300);
  });
  more.addEventListener("click", () => run(true));

  restore();
  run(false);
})();
