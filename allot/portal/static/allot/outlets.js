/* Sort a district's pharmacies by distance, only when the resident asks. The location is read in the
   browser and never sent anywhere: distances are computed here from each item's data-lat/data-lng. */
(function () {
  "use strict";
  var box = document.querySelector("[data-locate]");
  var list = document.querySelector("[data-outlets]");
  if (!box || !list || !("geolocation" in navigator)) { return; }
  var button = box.querySelector("button");
  var status = box.querySelector(".locate-status");
  var lang = document.documentElement.lang || "zh-hans";
  box.hidden = false;

  function haversine(lat1, lng1, lat2, lng2) {
    var rad = Math.PI / 180, r = 6371008.8;
    var dp = (lat2 - lat1) * rad, dl = (lng2 - lng1) * rad;
    var a = Math.pow(Math.sin(dp / 2), 2) +
      Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.pow(Math.sin(dl / 2), 2);
    return 2 * r * Math.asin(Math.sqrt(a));
  }

  function label(m) {
    if (m < 1000) { return Math.round(m) + " m"; }
    return (m / 1000).toLocaleString(lang, { maximumFractionDigits: 1, minimumFractionDigits: 1 }) + " km";
  }

  button.addEventListener("click", function () {
    button.disabled = true;
    status.textContent = box.dataset.msgWorking;
    navigator.geolocation.getCurrentPosition(function (pos) {
      var lat = pos.coords.latitude, lng = pos.coords.longitude;
      var items = Array.prototype.slice.call(list.querySelectorAll("li[data-lat]"));
      items.forEach(function (li) {
        var d = haversine(lat, lng, parseFloat(li.dataset.lat), parseFloat(li.dataset.lng));
        li.dataset.dist = String(d);
        li.querySelector("[data-distance]").textContent = label(d);
      });
      items.sort(function (a, b) { return parseFloat(a.dataset.dist) - parseFloat(b.dataset.dist); });
      items.forEach(function (li) { list.appendChild(li); });
      status.textContent = box.dataset.msgDone;
      button.disabled = false;
    }, function () {
      status.textContent = box.dataset.msgFailed;
      button.disabled = false;
    }, { enableHighAccuracy: false, timeout: 15000, maximumAge: 300000 });
  });
})();
