/* The claim form's "Fill in the fields" from a pasted address. Without this script the button posts the form to
   the server, which sends it back with the address fields filled in (claim_prefill in
   allot/portal/firstcome_views.py). With it, the page asks POST /api/v1/campaigns/{slug}/address/guess and fills
   the fields in place when the district and street it finds are the ones already chosen; when they differ (the
   page's lists change with them), or the API cannot answer, the button posts the form as without the script.
   Nothing is sent anywhere until the resident presses the button. */
(function () {
  "use strict";
  var box = document.querySelector("[data-prefill-box]");
  var button = box && box.querySelector("[data-prefill-button]");
  if (!button || !button.form || !window.fetch || !window.JSON) { return; }
  var form = button.form;
  var result = box.querySelector("[data-prefill-result]");
  var busy = false;
  // "still to choose" notes that a value the form keeps may answer (as _ANSWERED_BY in firstcome_views.py)
  var ANSWERED_BY = {address_district_required: "district", address_street_required: "street",
                     address_committee_required: "committee", address_building_required: "building"};

  function post() {  // what the button does without the script
    if (form.requestSubmit) { form.requestSubmit(button); return; }
    var flag = document.createElement("input");
    flag.type = "hidden"; flag.name = button.name; flag.value = button.value;
    form.appendChild(flag);
    form.action = button.formAction;
    form.submit();
  }

  function set(name, value) {  // false if a list does not have the value
    var el = form.elements[name];
    if (!el || !value) { return true; }
    if (el.tagName === "SELECT") {
      for (var i = 0; i < el.options.length; i++) {
        if (el.options[i].value === value) { el.value = value; return true; }
      }
      return false;
    }
    el.value = value;
    return true;
  }

  function show(data) {
    var notice = document.createElement("div");
    notice.className = "notice";
    notice.setAttribute("role", "status");
    if (data.district || data.street || data.committee || data.building || data.unit || data.room) {
      var p = document.createElement("p");
      p.textContent = box.getAttribute("data-filled-text");
      notice.appendChild(p);
    }
    var notes = (data.unplaced || []).filter(function (n) {  // less what the form already has
      var el = ANSWERED_BY[n.code] && form.elements[ANSWERED_BY[n.code]];
      return !(el && el.value);
    });
    if (notes.length) {
      var ul = document.createElement("ul");
      ul.className = "prefill-notes";
      for (var i = 0; i < notes.length; i++) {
        var li = document.createElement("li");
        li.textContent = notes[i].message;
        ul.appendChild(li);
      }
      notice.appendChild(ul);
    }
    result.textContent = "";
    result.appendChild(notice);
  }

  button.addEventListener("click", function (event) {
    var paste = form.elements.paste;
    var text = paste ? paste.value.trim() : "";
    if (!text) { return; }  // nothing pasted: the server says so
    event.preventDefault();
    if (busy) { return; }
    busy = true;
    window.fetch(box.getAttribute("data-guess-url"), {
      method: "POST",
      credentials: "omit",
      headers: {"Content-Type": "application/json", "Accept-Language": document.documentElement.lang || "zh-hans"},
      body: JSON.stringify({text: text})
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
      busy = false;
      var district = form.elements.district ? form.elements.district.value : "";
      var street = form.elements.street ? form.elements.street.value : "";
      if (!data || (data.district && data.district.code !== district) || (data.street && data.street.code !== street)
          || (data.committee && !set("committee", data.committee.code))) {
        post();
        return;
      }
      ["building", "unit", "room", "line"].forEach(function (name) { set(name, data[name]); });
      show(data);
    }).catch(function () { busy = false; post(); });
  });
}());
