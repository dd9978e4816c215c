/* First-come pages: the countdown to the opening (reloads the page at zero) and the units left, refreshed
   every 5 seconds from remaining.json. The pages work without this script (meta refresh on the countdown). */
(function () {
  "use strict";
  var box = document.querySelector("[data-countdown-box]");
  if (box) {
    var opensAt = parseInt(box.getAttribute("data-opens-at"), 10);
    var out = box.querySelector("[data-countdown]");
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    var tick = function () {
      var s = Math.max(0, Math.round((opensAt - Date.now()) / 1000));
      out.textContent = pad(Math.floor(s / 3600)) + ":" + pad(Math.floor(s / 60) % 60) + ":" + pad(s % 60);
      if (s <= 0) {
        // spread the reloads over 2 s so that a city's phones do not all arrive in the same millisecond
        window.setTimeout(function () { window.location.reload(); }, Math.random() * 2000);
        return;
      }
      window.setTimeout(tick, 1000);
    };
    tick();
  }
  var left = document.querySelector("[data-remaining-url]");
  if (left && window.fetch) {
    var url = left.getAttribute("data-remaining-url");
    var target = left.querySelector("[data-remaining]");
    var poll = function () {
      window.fetch(url, { credentials: "omit" }).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data && target) { target.textContent = String(data.left); }
        }).catch(function () { /* keep the last figure */ })
        .then(function () { window.setTimeout(poll, 5000); });
    };
    window.setTimeout(poll, 5000);
  }
})();
