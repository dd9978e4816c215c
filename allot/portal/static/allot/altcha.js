/* Proof of work for the registration and code forms (ALTCHA v2 challenge, SHA-256, cost 1).
   The server puts a signed challenge in the form's data-altcha-challenge attribute. We look for the counter
   whose SHA-256(salt || nonce || uint32be(counter)) starts with parameters.keyPrefix, then put
   base64(JSON {challenge, solution}) in the hidden "altcha" field. Nothing is sent anywhere until the
   resident submits the form. Uses crypto.subtle where the page is a secure context, else the small SHA-256
   below. Without JavaScript the form shows a message (see _altcha.html) and the server refuses it. */
(function () {
  "use strict";

  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2];

  function sha256(bytes) {  // bytes: Uint8Array; returns Uint8Array(32)
    var h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var len = bytes.length, total = ((len + 9 + 63) >> 6) << 6, m = new Uint8Array(total), w = new Array(64);
    m.set(bytes); m[len] = 0x80;
    var bits = len * 8;
    m[total - 4] = (bits >>> 24) & 255; m[total - 3] = (bits >>> 16) & 255;
    m[total - 2] = (bits >>> 8) & 255; m[total - 1] = bits & 255;
    for (var off = 0; off < total; off += 64) {
      for (var i = 0; i < 16; i++) {
        w[i] = (m[off + 4 * i] << 24) | (m[off + 4 * i + 1] << 16) | (m[off + 4 * i + 2] << 8) | m[off + 4 * i + 3];
      }
      for (i = 16; i < 64; i++) {
        var a = w[i - 15], b = w[i - 2];
        var s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
        var s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      var A = h[0], B = h[1], C = h[2], D = h[3], E = h[4], F = h[5], G = h[6], H = h[7];
      for (i = 0; i < 64; i++) {
        var S1 = ((E >>> 6) | (E << 26)) ^ ((E >>> 11) | (E << 21)) ^ ((E >>> 25) | (E << 7));
        var t1 = (H + S1 + ((E & F) ^ (~E & G)) + K[i] + w[i]) | 0;
        var S0 = ((A >>> 2) | (A << 30)) ^ ((A >>> 13) | (A << 19)) ^ ((A >>> 22) | (A << 10));
        var t2 = (S0 + ((A & B) ^ (A & C) ^ (B & C))) | 0;
        H = G; G = F; F = E; E = (D + t1) | 0; D = C; C = B; B = A; A = (t1 + t2) | 0;
      }
      h[0] = (h[0] + A) | 0; h[1] = (h[1] + B) | 0; h[2] = (h[2] + C) | 0; h[3] = (h[3] + D) | 0;
      h[4] = (h[4] + E) | 0; h[5] = (h[5] + F) | 0; h[6] = (h[6] + G) | 0; h[7] = (h[7] + H) | 0;
    }
    var out = new Uint8Array(32);
    for (i = 0; i < 8; i++) {
      out[4 * i] = h[i] >>> 24; out[4 * i + 1] = (h[i] >>> 16) & 255;
      out[4 * i + 2] = (h[i] >>> 8) & 255; out[4 * i + 3] = h[i] & 255;
    }
    return out;
  }

  function fromHex(hex) {
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i++) { out[i] = parseInt(hex.substr(2 * i, 2), 16); }
    return out;
  }

  function toHex(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) { s += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16); }
    return s;
  }

  var subtle = window.isSecureContext && window.crypto && window.crypto.subtle;

  async function solve(challenge) {
    var p = challenge.parameters, prefix = String(p.keyPrefix).toLowerCase(), keyLength = p.keyLength || 32;
    var salt = fromHex(p.salt), nonce = fromHex(p.nonce);
    var buf = new Uint8Array(salt.length + nonce.length + 4);
    buf.set(salt); buf.set(nonce, salt.length);
    var at = salt.length + nonce.length;
    for (var counter = 0; counter <= 0xffffffff; counter++) {
      buf[at] = counter >>> 24; buf[at + 1] = (counter >>> 16) & 255;
      buf[at + 2] = (counter >>> 8) & 255; buf[at + 3] = counter & 255;
      var key = subtle ? new Uint8Array(await subtle.digest("SHA-256", buf)) : sha256(buf);
      var hex = toHex(key.subarray(0, keyLength));
      if (hex.indexOf(prefix) === 0) { return {counter: counter, derivedKey: hex}; }
      if (!subtle && counter % 5000 === 4999) { await new Promise(function (r) { setTimeout(r, 0); }); }
    }
    throw new Error("unsolvable");
  }

  function start(form) {
    var field = form.querySelector("[data-altcha-field]");
    var box = form.querySelector("[data-altcha-status]");
    var working = box && box.querySelector("[data-altcha-working]");
    var done = box && box.querySelector("[data-altcha-done]");
    var challenge;
    try { challenge = JSON.parse(form.getAttribute("data-altcha-challenge")); } catch (e) { return; }
    if (!field || !challenge) { return; }
    if (working) { working.hidden = false; }
    var began = Date.now();
    solve(challenge).then(function (solution) {
      solution.time = Date.now() - began;
      field.value = window.btoa(JSON.stringify({challenge: challenge, solution: solution}));
      form.setAttribute("data-altcha-solved", "");
      if (working) { working.hidden = true; }
      if (done) { done.hidden = false; }
    });
    form.addEventListener("submit", function (event) {
      // still working: the status line says so (a button marked data-altcha-skip posts no claim: it may go)
      var skip = event.submitter && event.submitter.hasAttribute("data-altcha-skip");
      if (!field.value && !skip) { event.preventDefault(); }
    });
  }

  var forms = document.querySelectorAll("[data-altcha-form]");
  for (var i = 0; i < forms.length; i++) { start(forms[i]); }
}());
