// Shared by the studio pages: calls to the REST API with the session (and its CSRF token on
// every change), and the few DOM helpers the pages build their lists with. No framework: each
// page is a form or two and a list that is redrawn from the API's answer after every action.
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  // `body`: an object (sent as JSON) or {raw, type} (sent as is, e.g. a captions file).
  async function api(method, path, body) {
    const headers = { accept: "application/json", "x-csrf-token": csrf };
    let payload;
    if (body && body.raw !== undefined) { headers["content-type"] = body.type; payload = body.raw; }
    else if (body) { headers["content-type"] = "application/json"; payload = JSON.stringify(body); }
    const res = await fetch(path, { method, credentials: "same-origin", headers, body: payload });
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (res.status === 401) { location.assign("/login?next=" + encodeURIComponent(location.pathname)); throw new Error("logged out"); }
    if (!res.ok) throw new Error((data && data.detail) || ("HTTP " + res.status));
    return data;
  }

  // el("button", {type: "button", onclick: f, "aria-label": "..."}, "text", child...)
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "class") node.className = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (v === true) node.setAttribute(k, "");
      else node.setAttribute(k, v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    return node;
  }

  function say(node, text, isError) { node.textContent = text; node.className = isError ? "error" : "ok"; }

  function when(unix) { return unix ? new Date(unix * 1000).toLocaleString() : "—"; }

  // Runs `action` with `button` disabled, reporting success or the API's error in `status`.
  async function busy(button, status, action, done) {
    button.disabled = true;
    try { const r = await action(); if (done) say(status, done, false); return r; }
    catch (e) { say(status, e.message, true); return undefined; }
    finally { button.disabled = false; }
  }

  // A labelled field: el("div", {}, label, control).
  let ids = 0;
  function field(label, control) {
    const id = control.id || ("f" + (++ids));
    control.id = id;
    return el("div", {}, el("label", { for: id }, label), control);
  }

  function select(name, options, value) {
    return el("select", { name }, options.map(([v, text]) => el("option", { value: v, selected: v === value }, text)));
  }

  window.studio = { api, el, say, when, busy, field, select };
})();
