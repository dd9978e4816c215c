/* Clerk page: scan a pickup QR code with the camera (BarcodeDetector, e.g. Chrome on Android), fill the code
   field and submit. Without BarcodeDetector or a camera the button stays hidden and the page works as typed. */
(function () {
  "use strict";
  var button = document.getElementById("scan-button");
  var video = document.getElementById("scan-video");
  var input = document.getElementById("id_code");
  var form = document.getElementById("redeem-form");
  if (!button || !video || !input || !form) { return; }
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { return; }

  var stream = null;
  var detector = null;

  function stop() {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
    stream = null;
    video.hidden = true;
  }

  function tick() {
    if (!stream) { return; }
    detector.detect(video).then(function (codes) {
      if (codes.length && codes[0].rawValue) {
        input.value = codes[0].rawValue.trim();
        stop();
        form.submit();
        return;
      }
      window.setTimeout(tick, 150);
    }).catch(function () { window.setTimeout(tick, 300); });
  }

  function start() {
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        return video.play();
      })
      .then(tick)
      .catch(function () { stop(); input.focus(); });
  }

  window.BarcodeDetector.getSupportedFormats().then(function (formats) {
    if (formats.indexOf("qr_code") === -1) { return; }
    detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    button.hidden = false;
    button.addEventListener("click", function () { if (stream) { stop(); } else { start(); } });
  }).catch(function () { /* leave the button hidden */ });
})();
