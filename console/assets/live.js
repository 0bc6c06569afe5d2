// Live updates: every few seconds the page fetches itself and replaces
// the parts marked data-live whose content changed. Nothing is replaced
// while the person is typing or choosing in a form, and nothing runs in
// a hidden tab. Without JavaScript the pages work as they are, and a
// reload shows the same.
(function () {
  "use strict";
  var ms = parseInt(document.body.getAttribute("data-poll") || "0", 10);
  if (!ms || !window.fetch || !window.DOMParser) return;
  var status = document.getElementById("live-status");
  function busy() {
    var a = document.activeElement;
    return a && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName);
  }
  // The page's ETag from the last poll: the console answers 304, with no
  // body, while the page says the same.
  var etag = null;
  function tick() {
    if (document.hidden || busy()) return;
    var headers = { "X-Plumb-Live": "1" };
    if (etag) headers["If-None-Match"] = etag;
    fetch(window.location.href, { headers: headers, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 304) { if (status) status.textContent = "Up to date at " + new Date().toLocaleTimeString(); return null; }
        if (!r.ok) return null;
        etag = r.headers.get("ETag");
        return r.text();
      })
      .then(function (html) {
        if (html === null) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (el) {
          var fresh = el.id && doc.getElementById(el.id);
          if (fresh && fresh.innerHTML !== el.innerHTML && !el.contains(document.activeElement)) {
            el.innerHTML = fresh.innerHTML;
          }
        });
        if (status) status.textContent = "Updated " + new Date().toLocaleTimeString();
      })
      .catch(function () { if (status) status.textContent = "Live updates paused: the console did not answer"; });
  }
  window.setInterval(tick, ms);
})();
